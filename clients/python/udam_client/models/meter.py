from typing import Literal

Meter = Literal["all", "success"]

METER_VALUES: set[Meter] = {
    "all",
    "success",
}


def check_meter(value: str) -> Meter:
    if value in METER_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {METER_VALUES!r}")
