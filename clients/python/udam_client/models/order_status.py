from typing import Literal

OrderStatus = Literal[
    "cancelled", "expired", "failed", "fulfilled", "pending_payment", "refunded"
]

ORDER_STATUS_VALUES: set[OrderStatus] = {
    "cancelled",
    "expired",
    "failed",
    "fulfilled",
    "pending_payment",
    "refunded",
}


def check_order_status(value: str) -> OrderStatus:
    if value in ORDER_STATUS_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {ORDER_STATUS_VALUES!r}"
    )
