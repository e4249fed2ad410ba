from typing import Literal

PayoutProviderKind = Literal["dev", "stripe"]

PAYOUT_PROVIDER_KIND_VALUES: set[PayoutProviderKind] = {
    "dev",
    "stripe",
}


def check_payout_provider_kind(value: str) -> PayoutProviderKind:
    if value in PAYOUT_PROVIDER_KIND_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {PAYOUT_PROVIDER_KIND_VALUES!r}"
    )
