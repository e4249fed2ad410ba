from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.currency_earnings import CurrencyEarnings


T = TypeVar("T", bound="Earnings")


@_attrs_define
class Earnings:
    """`GET /earnings`.

    Attributes:
        hold_days (int): Days a paid sale stays held before a payout may include it.
        items (list[CurrencyEarnings]): One entry per currency the caller has sold in, by currency.
    """

    hold_days: int
    items: list[CurrencyEarnings]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        hold_days = self.hold_days

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "hold_days": hold_days,
                "items": items,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.currency_earnings import CurrencyEarnings

        d = dict(src_dict)
        hold_days = d.pop("hold_days")

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = CurrencyEarnings.from_dict(items_item_data)

            items.append(items_item)

        earnings = cls(
            hold_days=hold_days,
            items=items,
        )

        earnings.additional_properties = d
        return earnings

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
