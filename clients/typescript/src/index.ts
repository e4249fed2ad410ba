/**
 * The UDAM TypeScript SDK: a thin typed client over `openapi-fetch`, whose request and
 * response types come from `schema.ts` (generated from the server's OpenAPI document by
 * `scripts/gen-sdks.sh`; never edit that file by hand), and a verifier for UDAM's signed
 * webhooks built on the official `standardwebhooks` package.
 *
 * @module
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export { WebhookVerificationError };

/** Every named schema of the API (`Schemas["OrderView"]`, `Schemas["TokenView"]`, …). */
export type Schemas = components["schemas"];

/** Options of {@link createUdamClient}. */
export interface UdamClientOptions extends ClientOptions {
  /** The server's origin, e.g. `https://market.example.com` (no trailing `/api/v1`). */
  baseUrl: string;
  /** A session token from `POST /api/v1/auth/login`, sent as `Authorization: Bearer`. */
  token?: string;
}

/** The typed client: `openapi-fetch`'s methods, plus the session token it sends. */
export type UdamClient = Client<paths> & {
  /** Sets (or, with `undefined`, clears) the bearer token sent with later requests. */
  setToken(token: string | undefined): void;
};

/**
 * Creates a typed client. Paths, parameters, bodies and answers are checked against the
 * API's document at compile time: `client.POST("/api/v1/orders", { body, params })`.
 * Each call resolves to `{ data, error, response }`; `error` is the API's JSON error
 * envelope (`Schemas["ErrorBody"]`) for a non-2xx answer.
 */
export function createUdamClient(options: UdamClientOptions): UdamClient {
  const { token: initial, ...rest } = options;
  let token = initial;
  const client = createClient<paths>(rest);
  client.use({
    onRequest({ request }) {
      // A call that sets its own Authorization header (another user's session) wins.
      if (token !== undefined && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${token}`);
      }
      return request;
    },
  });
  return Object.assign(client, {
    setToken(next: string | undefined) {
      token = next;
    },
  });
}

/**
 * A fresh key for the `Idempotency-Key` header of `POST /api/v1/orders`. Keep it with
 * the purchase you mean and send the same key when you retry it: the server then answers
 * with the order it already made instead of buying again.
 */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** A UDAM webhook event: the JSON envelope every delivery carries. */
export interface WebhookEvent<T = unknown> {
  /** The event's id (also the `webhook-id` header; the same on every retry). */
  id: string;
  /** The event type, e.g. `order.fulfilled`. */
  type: string;
  /** When the event happened (RFC 3339 UTC). */
  created_at: string;
  /** The object the event is about, in the REST API's shape. */
  data: T;
}

/**
 * Verifies a webhook delivery with the official Standard Webhooks verifier and returns its
 * event. `payload` must be the raw request body exactly as received (parse it only after
 * verifying); `headers` are the request's headers (any case); `secret` is the endpoint's
 * signing secret (`whsec_…`). Throws {@link WebhookVerificationError} when the signature
 * does not match any of the `webhook-signature` entries or the timestamp is more than five
 * minutes away from now (replay protection).
 */
export function verifyWebhook<T = unknown>(
  payload: string | Buffer,
  headers: Headers | Record<string, string | string[] | undefined>,
  secret: string,
): WebhookEvent<T> {
  return new Webhook(secret).verify(payload, lowercaseHeaders(headers)) as WebhookEvent<T>;
}

// The verifier reads `webhook-id` and friends by their lowercase names, while frameworks
// hand headers over in whatever case they arrived (or as a Fetch `Headers`).
function lowercaseHeaders(
  headers: Headers | Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) {
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(" ") : value;
    }
  }
  return out;
}
