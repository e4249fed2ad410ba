"""End-to-end check of the Python SDK against a running ``udam serve``.

Run by the Rust test suite (``tests/api/sdk.rs``): a seller lists a service, a buyer
registers, signs in, finds the listing, buys it twice with one idempotency key (one
order), reads the access token, and verifies a signed webhook with the SDK's
``verify_webhook``.

Input (environment):
- ``UDAM_BASE_URL``: the server's origin.
- ``UDAM_WEBHOOK_CASE`` (optional): a JSON file ``{payload, headers, secret}`` holding one
  real delivery (raw body, received headers, the endpoint's ``whsec_`` secret). Without it
  the step verifies the reference fixture below.

Output: one JSON line on stdout with what the buyer saw; exits non-zero on any failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime

from udam_client import AuthenticatedClient, Client
from udam_client.api.accounts import login, register
from udam_client.api.listings import browse_listings, create_listing
from udam_client.api.orders import create_order
from udam_client.api.tokens import list_tokens
from udam_client.models import (
    CreateListing,
    CreateOrder,
    ListingPage,
    ListingView,
    LoginRequest,
    LoginResponse,
    OrderPlaced,
    OrderView,
    RegisterRequest,
    TokenPage,
)
from udam_webhooks import WebhookVerificationError, verify_webhook

BASE_URL = os.environ["UDAM_BASE_URL"]
RUN = secrets.token_hex(4)
PASSWORD = "correct horse battery"


def check(condition: object, message: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {message}")


def sign_up(email: str) -> LoginResponse:
    """Registers and signs in a user; returns the session."""
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    registered = register.sync_detailed(
        client=anonymous, body=RegisterRequest(email=email, password=PASSWORD)
    )
    check(registered.status_code == 201, f"register {email}: {registered.status_code}")
    session = login.sync(
        client=anonymous, body=LoginRequest(email=email, password=PASSWORD)
    )
    check(isinstance(session, LoginResponse), f"sign in {email}: {session}")
    assert isinstance(session, LoginResponse)
    return session


def as_user(session: LoginResponse) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=BASE_URL, token=session.token)


# The seller lists a service whose key the buyer should receive.
seller = sign_up(f"py-seller-{RUN}@example.com")
api_key = f"sk_py_{RUN}_0123456789"
listed = create_listing.sync(
    client=as_user(seller),
    body=CreateListing(
        service_name=f"py-weather-{RUN}",
        description="Weather data for the Python SDK test",
        price_cents=250,
        currency="usd",
        available_units=5,
        api_key=api_key,
    ),
)
check(isinstance(listed, ListingView), f"create listing: {listed}")
assert isinstance(listed, ListingView)

# The buyer: register, sign in, list listings.
buyer_email = f"py-buyer-{RUN}@example.com"
buyer = as_user(sign_up(buyer_email))
page = browse_listings.sync(client=buyer, seller_id=seller.user.id, limit=10)
check(isinstance(page, ListingPage), f"list listings: {page}")
assert isinstance(page, ListingPage)
found = [item for item in page.items if item.id == listed.id]
check(len(found) == 1, f"the new listing is in the seller's page: {page.to_dict()}")
listing = found[0]
check(listing.available_units == 5, f"5 units listed, saw {listing.available_units}")

# Buy with an idempotency key, then send the same request again: one order.
key = str(uuid.uuid4())


def buy() -> OrderPlaced:
    bought = create_order.sync(
        client=buyer,
        body=CreateOrder(listing_id=listing.id, units=2),
        idempotency_key=key,
    )
    check(isinstance(bought, OrderPlaced), f"buy: {bought}")
    assert isinstance(bought, OrderPlaced)
    return bought


first = buy()
again = buy()
check(first.order.id == again.order.id, "the retried purchase returns the same order")
check(
    first.order.total_cents == 500,
    f"2 units at 250 cost 500, got {first.order.total_cents}",
)

# Read the tokens: the order's grant carries the seller's key.
tokens = list_tokens.sync(client=buyer)
check(isinstance(tokens, TokenPage), f"list tokens: {tokens}")
assert isinstance(tokens, TokenPage)
grants = [token for token in tokens.items if token.order_id == first.order.id]
check(len(grants) == 1, f"one token for the order, saw {len(grants)}")
grant = grants[0]
check(grant.access_token == api_key, "the token is the seller's key")


def reference_signed_delivery(order: OrderView) -> dict:
    """FIXTURE: a delivery signed by the Standard Webhooks reference algorithm.

    Written out here independently of the SDK and of the ``standardwebhooks`` package: the
    secret is ``whsec_`` + base64(key); the signature is base64(HMAC-SHA256(key,
    "id.timestamp.body")); ``webhook-signature`` lists space-separated ``v1,<signature>``
    entries. It carries two entries, as during a secret rotation: one from an old secret,
    one from the current one. Replace it with a real delivery through UDAM_WEBHOOK_CASE.
    """
    key, old_key = secrets.token_bytes(24), secrets.token_bytes(24)
    msg_id = f"msg_{RUN}"
    timestamp = str(int(time.time()))
    payload = json.dumps(
        {
            "id": msg_id,
            "type": "order.fulfilled",
            "created_at": datetime.now(UTC).isoformat(),
            "data": order.to_dict(),
        }
    )

    def sign(secret_key: bytes) -> str:
        mac = hmac.new(
            secret_key, f"{msg_id}.{timestamp}.{payload}".encode(), hashlib.sha256
        )
        return base64.b64encode(mac.digest()).decode()

    return {
        "payload": payload,
        "headers": {
            "Webhook-Id": msg_id,
            "Webhook-Timestamp": timestamp,
            "Webhook-Signature": f"v1,{sign(old_key)} v1,{sign(key)}",
        },
        "secret": "whsec_" + base64.b64encode(key).decode(),
    }


def must_reject(payload: str, headers: dict, secret: str, what: str) -> None:
    try:
        verify_webhook(payload, headers, secret)
    except WebhookVerificationError:
        return
    raise SystemExit(f"check failed: {what} was accepted")


# Verify a webhook with the SDK's helper.
case_file = os.environ.get("UDAM_WEBHOOK_CASE")
source = "input" if case_file else "reference_fixture"
if case_file:
    with open(case_file, encoding="utf-8") as f:
        delivery = json.load(f)
else:
    delivery = reference_signed_delivery(first.order)
event = verify_webhook(delivery["payload"], delivery["headers"], delivery["secret"])
check(event["id"] and event["type"], "the verified event has an id and a type")
must_reject(
    delivery["payload"] + " ", delivery["headers"], delivery["secret"], "a changed body"
)
other_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
must_reject(delivery["payload"], delivery["headers"], other_secret, "another secret")

json.dump(
    {
        "buyer_email": buyer_email,
        "listing_id": listing.id,
        "order_id": first.order.id,
        "replayed_order_id": again.order.id,
        "order_status": first.order.status,
        "token_id": grant.id,
        "webhook": {"source": source, "id": event["id"], "type": event["type"]},
    },
    sys.stdout,
)
print()
