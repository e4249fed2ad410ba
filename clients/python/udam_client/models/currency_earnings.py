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
        available_cents (int): The seller's share of paid sales past the payout hold, not paid out yet: what
            the next payout sends (refunds already taken off; below zero only when refunds
            exceed what was earned, which later sales recover first).
        currency (str): Lowercase ISO 4217 code. Example: usd.
        held_cents (int): The seller's share of paid sales still inside the payout hold.
        in_transit_cents (int): Payouts recorded, not yet confirmed sent by the payout provider.
        paid_out_cents (int): Payouts sent, less payouts reversed.
        payable_cents (int): Everything owed to the seller now: held + available.
        pending_cents (int): The seller's share of sales not paid by their buyers yet.
        platform_fee_cents (int): The platform's fee on the seller's sales (less fees returned by refunds).
    """

    available_cents: int
    currency: str
    held_cents: int
    in_transit_cents: int
    paid_out_cents: int
    payable_cents: int
    pending_cents: int
    platform_fee_cents: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        available_cents = self.available_cents

        currency = self.currency

        held_cents = self.held_cents

        in_transit_cents = self.in_transit_cents

        paid_out_cents = self.paid_out_cents

        payable_cents = self.payable_cents

        pending_cents = self.pending_cents

        platform_fee_cents = self.platform_fee_cents

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "available_cents": available_cents,
                "currency": currency,
                "held_cents": held_cents,
                "in_transit_cents": in_transit_cents,
                "paid_out_cents": paid_out_cents,
                "payable_cents": payable_cents,
                "pending_cents": pending_cents,
                "platform_fee_cents": platform_fee_cents,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        available_cents = d.pop("available_cents")

        currency = d.pop("currency")

        held_cents = d.pop("held_cents")

        in_transit_cents = d.pop("in_transit_cents")

        paid_out_cents = d.pop("paid_out_cents")

        payable_cents = d.pop("payable_cents")

        pending_cents = d.pop("pending_cents")

        platform_fee_cents = d.pop("platform_fee_cents")

        currency_earnings = cls(
            available_cents=available_cents,
            currency=currency,
            held_cents=held_cents,
            in_transit_cents=in_transit_cents,
            paid_out_cents=paid_out_cents,
            payable_cents=payable_cents,
            pending_cents=pending_cents,
            platform_fee_cents=platform_fee_cents,
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
