from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CurrencyEarnings")


@_attrs_define
class CurrencyEarnings:
    """A seller's earnings in one currency, minor units.

    Attributes:
        available_cents (int): The seller's share of paid sales, owed to the seller (refunds already taken off;
            below zero only when refunds exceed what was earned).
        currency (str): Lowercase ISO 4217 code. Example: usd.
        pending_cents (int): The seller's share of sales not paid by their buyers yet.
    """

    available_cents: int
    currency: str
    pending_cents: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        available_cents = self.available_cents

        currency = self.currency

        pending_cents = self.pending_cents

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "available_cents": available_cents,
                "currency": currency,
                "pending_cents": pending_cents,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        available_cents = d.pop("available_cents")

        currency = d.pop("currency")

        pending_cents = d.pop("pending_cents")

        currency_earnings = cls(
            available_cents=available_cents,
            currency=currency,
            pending_cents=pending_cents,
        )

        currency_earnings.additional_properties = d
        return currency_earnings

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
