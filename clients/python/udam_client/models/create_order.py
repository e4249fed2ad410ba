from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CreateOrder")


@_attrs_define
class CreateOrder:
    """Body of `POST /orders`.

    Attributes:
        listing_id (str): The listing to buy from.
        units (int): Units, 1 to the per-order cap (`--max-units-per-order`). Example: 1.
    """

    listing_id: str
    units: int

    def to_dict(self) -> dict[str, Any]:
        listing_id = self.listing_id

        units = self.units

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "listing_id": listing_id,
                "units": units,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        listing_id = d.pop("listing_id")

        units = d.pop("units")

        create_order = cls(
            listing_id=listing_id,
            units=units,
        )

        return create_order
