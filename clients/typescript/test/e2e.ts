/**
 * End-to-end check of the TypeScript SDK against a running `udam serve`, run by the Rust
 * test suite (`tests/api/sdk.rs`): a seller lists a service, a buyer registers, signs in,
 * finds the listing, buys it twice with one idempotency key (one order), reads the access
 * token, and verifies a signed webhook with the SDK's `verifyWebhook`.
 *
 * Input (environment):
 * - `UDAM_BASE_URL`: the server's origin.
 * - `UDAM_WEBHOOK_CASE` (optional): a JSON file `{payload, headers, secret}` holding one
 *   real delivery (raw body, received headers, the endpoint's `whsec_` secret). Without
 *   it the step verifies the reference fixture below.
 *
 * Output: one JSON line on stdout with what the buyer saw; exits non-zero on any failure.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

import {
  createUdamClient,
  newIdempotencyKey,
  verifyWebhook,
  WebhookVerificationError,
  type Schemas,
} from "../src/index.js";

/** One webhook delivery to verify. */
interface WebhookCase {
  payload: string;
  headers: Record<string, string>;
  secret: string;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(`check failed: ${message}`);
  }
}

const baseUrl = process.env.UDAM_BASE_URL;
check(baseUrl, "UDAM_BASE_URL is set");
const run = randomBytes(4).toString("hex");
const password = "correct horse battery";

/** Registers and signs in a user; returns their session token and id. */
async function signUp(email: string): Promise<{ token: string; userId: string }> {
  const client = createUdamClient({ baseUrl: baseUrl! });
  const registered = await client.POST("/api/v1/auth/register", {
    body: { email, password },
  });
  check(registered.response.status === 201, `register ${email}: ${registered.response.status}`);
  const session = await client.POST("/api/v1/auth/login", { body: { email, password } });
  check(session.data, `sign in ${email}: ${JSON.stringify(session.error)}`);
  return { token: session.data.token, userId: session.data.user.id };
}

// The seller lists a service whose key the buyer should receive.
const seller = await signUp(`ts-seller-${run}@example.com`);
const apiKey = `sk_ts_${run}_0123456789`;
const sellerClient = createUdamClient({ baseUrl, token: seller.token });
const listed = await sellerClient.POST("/api/v1/listings", {
  body: {
    service_name: `ts-weather-${run}`,
    description: "Weather data for the TypeScript SDK test",
    price_cents: 250,
    currency: "usd",
    available_units: 5,
    api_key: apiKey,
  },
});
check(listed.data, `create listing: ${JSON.stringify(listed.error)}`);

// The buyer: register, sign in, list listings.
const buyerEmail = `ts-buyer-${run}@example.com`;
const buyer = await signUp(buyerEmail);
const client = createUdamClient({ baseUrl });
client.setToken(buyer.token);
const page = await client.GET("/api/v1/listings", {
  params: { query: { seller_id: seller.userId, limit: 10 } },
});
check(page.data, `list listings: ${JSON.stringify(page.error)}`);
const listing = page.data.items.find((item) => item.id === listed.data.id);
check(listing, "the new listing is in the seller's page");
check(listing.available_units === 5, `5 units listed, saw ${listing.available_units}`);

// Buy with an idempotency key, then send the same request again: one order.
const key = newIdempotencyKey();
async function buy(): Promise<Schemas["OrderCreated"]> {
  const bought = await client.POST("/api/v1/orders", {
    params: { header: { "Idempotency-Key": key } },
    body: { listing_id: listing!.id, units: 2 },
  });
  check(bought.data, `buy: ${bought.response.status} ${JSON.stringify(bought.error)}`);
  return bought.data;
}
const first = await buy();
const again = await buy();
check(first.order.id === again.order.id, "the retried purchase returns the same order");
check(first.order.total_cents === 500, `2 units at 250 cost 500, got ${first.order.total_cents}`);

// Read the tokens: the order's grant carries the seller's key.
const tokens = await client.GET("/api/v1/tokens", {});
check(tokens.data, `list tokens: ${JSON.stringify(tokens.error)}`);
const grants = tokens.data.items.filter((token) => token.order_id === first.order.id);
check(grants.length === 1, `one token for the order, saw ${grants.length}`);
const grant = grants[0]!;
check(grant.access_token === apiKey, "the token is the seller's key");

// Verify a webhook with the SDK's helper.
const source = process.env.UDAM_WEBHOOK_CASE ? "input" : "reference_fixture";
const delivery: WebhookCase = process.env.UDAM_WEBHOOK_CASE
  ? (JSON.parse(readFileSync(process.env.UDAM_WEBHOOK_CASE, "utf8")) as WebhookCase)
  : referenceSignedDelivery(first.order);
const event = verifyWebhook(delivery.payload, delivery.headers, delivery.secret);
check(event.id && event.type, "the verified event has an id and a type");
mustReject(delivery.payload + " ", delivery.headers, delivery.secret, "a changed body");
mustReject(delivery.payload, delivery.headers, `whsec_${randomBytes(24).toString("base64")}`, "another secret");

console.log(
  JSON.stringify({
    buyer_email: buyerEmail,
    listing_id: listing.id,
    order_id: first.order.id,
    replayed_order_id: again.order.id,
    order_status: first.order.status,
    token_id: grant.id,
    webhook: { source, id: event.id, type: event.type },
  }),
);

function mustReject(payload: string, headers: Record<string, string>, secret: string, what: string) {
  try {
    verifyWebhook(payload, headers, secret);
  } catch (err) {
    check(err instanceof WebhookVerificationError, `${what}: ${String(err)}`);
    return;
  }
  throw new Error(`check failed: ${what} was accepted`);
}

/**
 * FIXTURE: a delivery signed by the Standard Webhooks reference algorithm, written out
 * here independently of the SDK and of the `standardwebhooks` package: the secret is
 * `whsec_` + base64(key); the signature is base64(HMAC-SHA256(key, "id.timestamp.body"));
 * `webhook-signature` lists space-separated `v1,<signature>` entries. It carries two
 * entries, as during a secret rotation: one from an old secret, one from the current one.
 * Replace it with a real delivery through `UDAM_WEBHOOK_CASE`.
 */
function referenceSignedDelivery(order: Schemas["OrderView"]): WebhookCase {
  const key = randomBytes(24);
  const oldKey = randomBytes(24);
  const id = `msg_${run}`;
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const payload = JSON.stringify({
    id,
    type: "order.fulfilled",
    created_at: new Date().toISOString(),
    data: order,
  });
  const sign = (secretKey: Buffer) =>
    createHmac("sha256", secretKey).update(`${id}.${timestamp}.${payload}`).digest("base64");
  return {
    payload,
    headers: {
      "Webhook-Id": id,
      "Webhook-Timestamp": timestamp,
      "Webhook-Signature": `v1,${sign(oldKey)} v1,${sign(key)}`,
    },
    secret: `whsec_${key.toString("base64")}`,
  };
}
