from typing import Literal

SettlementStatus = Literal[
    "cancelled", "expired", "failed", "paid", "pending", "refunded"
]

SETTLEMENT_STATUS_VALUES: set[SettlementStatus] = {
    "cancelled",
    "expired",
    "failed",
    "paid",
    "pending",
    "refunded",
}


def check_settlement_status(value: str) -> SettlementStatus:
    if value in SETTLEMENT_STATUS_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SETTLEMENT_STATUS_VALUES!r}"
    )
