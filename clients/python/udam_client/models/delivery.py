from typing import Literal

Delivery = Literal["gateway", "key"]

DELIVERY_VALUES: set[Delivery] = {
    "gateway",
    "key",
}


def check_delivery(value: str) -> Delivery:
    if value in DELIVERY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {DELIVERY_VALUES!r}")
