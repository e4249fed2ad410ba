from typing import Literal

EventType = Literal[
    "allowance.low",
    "grant.revoked",
    "listing.sold_out",
    "order.cancelled",
    "order.created",
    "order.expired",
    "order.fulfilled",
    "payout.created",
    "payout.failed",
    "payout.paid",
    "payout.reversed",
    "settlement.paid",
    "webhook.test",
]

EVENT_TYPE_VALUES: set[EventType] = {
    "allowance.low",
    "grant.revoked",
    "listing.sold_out",
    "order.cancelled",
    "order.created",
    "order.expired",
    "order.fulfilled",
    "payout.created",
    "payout.failed",
    "payout.paid",
    "payout.reversed",
    "settlement.paid",
    "webhook.test",
}


def check_event_type(value: str) -> EventType:
    if value in EVENT_TYPE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {EVENT_TYPE_VALUES!r}"
    )
