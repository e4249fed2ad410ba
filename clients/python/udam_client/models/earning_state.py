from typing import Literal

EarningState = Literal["cleared", "held", "pending", "refunded"]

EARNING_STATE_VALUES: set[EarningState] = {
    "cleared",
    "held",
    "pending",
    "refunded",
}


def check_earning_state(value: str) -> EarningState:
    if value in EARNING_STATE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {EARNING_STATE_VALUES!r}"
    )
