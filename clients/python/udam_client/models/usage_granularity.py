from typing import Literal

UsageGranularity = Literal["day", "hour"]

USAGE_GRANULARITY_VALUES: set[UsageGranularity] = {
    "day",
    "hour",
}


def check_usage_granularity(value: str) -> UsageGranularity:
    if value in USAGE_GRANULARITY_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {USAGE_GRANULARITY_VALUES!r}"
    )
