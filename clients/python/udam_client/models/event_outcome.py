from typing import Literal

EventOutcome = Literal[
    "account_updated",
    "awaiting_async_payment",
    "duplicate",
    "fulfilled",
    "ignored",
    "mismatched",
    "partially_refunded",
    "payout_reversed",
    "processing",
    "refunded",
    "released",
    "revoked",
    "settled",
    "settlement_refunded",
    "unknown_order",
]

EVENT_OUTCOME_VALUES: set[EventOutcome] = {
    "account_updated",
    "awaiting_async_payment",
    "duplicate",
    "fulfilled",
    "ignored",
    "mismatched",
    "partially_refunded",
    "payout_reversed",
    "processing",
    "refunded",
    "released",
    "revoked",
    "settled",
    "settlement_refunded",
    "unknown_order",
}


def check_event_outcome(value: str) -> EventOutcome:
    if value in EVENT_OUTCOME_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {EVENT_OUTCOME_VALUES!r}"
    )
