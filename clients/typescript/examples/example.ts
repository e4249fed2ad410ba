/**
 * Example: sign in, browse listings, buy one unit safely and print the access token.
 *
 *   UDAM_BASE_URL=http://127.0.0.1:8080 UDAM_EMAIL=ann@example.com \
 *   UDAM_PASSWORD='correct horse battery' npm run example -- LISTING_ID
 */
import { createUdamClient, newIdempotencyKey } from "../src/index.js";

const baseUrl = process.env.UDAM_BASE_URL ?? "http://127.0.0.1:8080";
const client = createUdamClient({ baseUrl });

const session = await client.POST("/api/v1/auth/login", {
  body: { email: process.env.UDAM_EMAIL ?? "", password: process.env.UDAM_PASSWORD ?? "" },
});
if (!session.data) {
  // Every non-2xx answer is the API's JSON error envelope, typed as Schemas["ErrorBody"].
  throw new Error(`sign-in failed: ${JSON.stringify(session.error)}`);
}
client.setToken(session.data.token);

const page = await client.GET("/api/v1/listings", { params: { query: { in_stock: true } } });
for (const listing of page.data?.items ?? []) {
  console.log(`${listing.id}  ${listing.service_name}  ${listing.price_cents} ${listing.currency}`);
}

const listingId = process.argv[2];
if (listingId) {
  // Keep the key with the purchase: resending it after a timeout cannot buy twice.
  const key = newIdempotencyKey();
  const bought = await client.POST("/api/v1/orders", {
    params: { header: { "Idempotency-Key": key } },
    body: { listing_id: listingId, units: 1 },
  });
  if (!bought.data) {
    throw new Error(`purchase failed: ${JSON.stringify(bought.error)}`);
  }
  console.log(`order ${bought.data.order.id}: ${bought.data.order.status}`);
  const tokens = await client.GET("/api/v1/tokens", {});
  const token = tokens.data?.items.find((t) => t.order_id === bought.data.order.id);
  console.log(`access token: ${token?.access_token ?? token?.gateway_key ?? "(pending payment)"}`);
}
