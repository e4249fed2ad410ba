"""Example: sign in, browse listings, buy one unit safely and print the access token.

    UDAM_BASE_URL=http://127.0.0.1:8080 UDAM_EMAIL=ann@example.com \\
    UDAM_PASSWORD='correct horse battery' python examples/example.py [LISTING_ID]
"""

from __future__ import annotations

import os
import sys
import uuid

from udam_client import AuthenticatedClient, Client
from udam_client.api.accounts import login
from udam_client.api.listings import browse_listings
from udam_client.api.orders import create_order
from udam_client.api.tokens import list_tokens
from udam_client.models import CreateOrder, ErrorBody, LoginRequest

base_url = os.environ.get("UDAM_BASE_URL", "http://127.0.0.1:8080")
session = login.sync(
    client=Client(base_url=base_url),
    body=LoginRequest(
        email=os.environ["UDAM_EMAIL"], password=os.environ["UDAM_PASSWORD"]
    ),
)
if isinstance(session, ErrorBody) or session is None:
    # Every non-2xx answer is the API's JSON error envelope, parsed as ErrorBody.
    sys.exit(f"sign-in failed: {session}")
client = AuthenticatedClient(base_url=base_url, token=session.token)

page = browse_listings.sync(client=client, in_stock=True)
for listing in getattr(page, "items", []):
    print(
        f"{listing.id}  {listing.service_name}  {listing.price_cents} {listing.currency}"
    )

if len(sys.argv) > 1:
    # Keep the key with the purchase: resending it after a timeout cannot buy twice.
    key = str(uuid.uuid4())
    bought = create_order.sync(
        client=client,
        body=CreateOrder(listing_id=sys.argv[1], units=1),
        idempotency_key=key,
    )
    if isinstance(bought, ErrorBody) or bought is None:
        sys.exit(f"purchase failed: {bought}")
    print(f"order {bought.order.id}: {bought.order.status}")
    tokens = list_tokens.sync(client=client)
    for token in getattr(tokens, "items", []):
        if token.order_id == bought.order.id:
            print(f"access token: {token.access_token or token.gateway_key}")
