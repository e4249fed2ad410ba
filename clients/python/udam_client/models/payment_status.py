from typing import Literal

PaymentStatus = Literal["deferred", "paid", "refunded", "unpaid"]

PAYMENT_STATUS_VALUES: set[PaymentStatus] = {
    "deferred",
    "paid",
    "refunded",
    "unpaid",
}


def check_payment_status(value: str) -> PaymentStatus:
    if value in PAYMENT_STATUS_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {PAYMENT_STATUS_VALUES!r}"
    )
