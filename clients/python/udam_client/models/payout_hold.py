from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="PayoutHold")


@_attrs_define
class PayoutHold:
    """`POST /admin/sellers/{id}/payouts-hold`.

    Attributes:
        held (bool): True to hold the seller's payouts, false to release them.
    """

    held: bool

    def to_dict(self) -> dict[str, Any]:
        held = self.held

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "held": held,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        held = d.pop("held")

        payout_hold = cls(
            held=held,
        )

        return payout_hold
