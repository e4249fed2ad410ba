from typing import Literal

ListingAvailability = Literal["active", "archived", "paused", "sold_out"]

LISTING_AVAILABILITY_VALUES: set[ListingAvailability] = {
    "active",
    "archived",
    "paused",
    "sold_out",
}


def check_listing_availability(value: str) -> ListingAvailability:
    if value in LISTING_AVAILABILITY_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {LISTING_AVAILABILITY_VALUES!r}"
    )
