"""Verify UDAM's signed webhooks with the official Standard Webhooks verifier.

UDAM signs every webhook delivery per the Standard Webhooks spec (``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256>`` headers). This
module wraps the official ``standardwebhooks`` package (pinned in ``pyproject.toml``) so
a receiver needs one call; it lives beside the generated ``udam_client`` package because
``scripts/gen-sdks.sh`` rewrites that package whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["WebhookEvent", "WebhookVerificationError", "verify_webhook"]


class WebhookEvent(TypedDict):
    """The JSON envelope every UDAM webhook delivery carries."""

    id: str
    """The event's id (also the ``webhook-id`` header; the same on every retry)."""
    type: str
    """The event type, e.g. ``order.fulfilled``."""
    created_at: str
    """When the event happened (RFC 3339 UTC)."""
    data: Any
    """The object the event is about, in the REST API's shape."""


def verify_webhook(
    payload: bytes | str, headers: Mapping[str, str], secret: str
) -> WebhookEvent:
    """Verify one delivery and return its event.

    ``payload`` must be the raw request body exactly as received (parse it only after
    verifying), ``headers`` the request's headers in any case, ``secret`` the endpoint's
    signing secret (``whsec_...``). Raises :class:`WebhookVerificationError` when no
    ``webhook-signature`` entry matches or the timestamp is more than five minutes from
    now (replay protection).
    """
    body = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    # The verifier checks the signature before it parses the body.
    event = Webhook(secret).verify(body, dict(headers))
    if not isinstance(event, dict) or not _ENVELOPE <= event.keys():
        raise WebhookVerificationError("the payload is not a UDAM event envelope")
    return cast(WebhookEvent, event)


_ENVELOPE = frozenset(("id", "type", "created_at", "data"))
