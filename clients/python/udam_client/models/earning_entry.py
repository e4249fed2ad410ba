from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.earning_state import EarningState, check_earning_state
from ..types import UNSET, Unset

T = TypeVar("T", bound="EarningEntry")


@_attrs_define
class EarningEntry:
    """One sale, as the seller earned from it.

    Attributes:
        created_at (str): When it was bought (RFC 3339).
        currency (str): Lowercase ISO 4217 code.
        listing_id (str): The listing sold.
        net_cents (int): The seller's share after fee and refunds.
        order_id (str): The order.
        platform_fee_cents (int): The platform's fee on it, less fee returned by refunds.
        refunded_cents (int): What was refunded to the buyer.
        state (EarningState): Where one sale's earnings stand.
            - `pending`: The buyer has not paid yet.
            - `held`: Paid, inside the payout hold.
            - `cleared`: Paid and past the hold: payable by the next payout (or paid out already).
            - `refunded`: Refunded in full: nothing earned.
        total_cents (int): What the buyer was charged.
        paid_at (None | str | Unset): When the buyer paid (RFC 3339), if they have.
    """

    created_at: str
    currency: str
    listing_id: str
    net_cents: int
    order_id: str
    platform_fee_cents: int
    refunded_cents: int
    state: EarningState
    total_cents: int
    paid_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        currency = self.currency

        listing_id = self.listing_id

        net_cents = self.net_cents

        order_id = self.order_id

        platform_fee_cents = self.platform_fee_cents

        refunded_cents = self.refunded_cents

        state: str = self.state

        total_cents = self.total_cents

        paid_at: None | str | Unset
        if isinstance(self.paid_at, Unset):
            paid_at = UNSET
        else:
            paid_at = self.paid_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "currency": currency,
                "listing_id": listing_id,
                "net_cents": net_cents,
                "order_id": order_id,
                "platform_fee_cents": platform_fee_cents,
                "refunded_cents": refunded_cents,
                "state": state,
                "total_cents": total_cents,
            }
        )
        if paid_at is not UNSET:
            field_dict["paid_at"] = paid_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        currency = d.pop("currency")

        listing_id = d.pop("listing_id")

        net_cents = d.pop("net_cents")

        order_id = d.pop("order_id")

        platform_fee_cents = d.pop("platform_fee_cents")

        refunded_cents = d.pop("refunded_cents")

        state = check_earning_state(d.pop("state"))

        total_cents = d.pop("total_cents")

        def _parse_paid_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        paid_at = _parse_paid_at(d.pop("paid_at", UNSET))

        earning_entry = cls(
            created_at=created_at,
            currency=currency,
            listing_id=listing_id,
            net_cents=net_cents,
            order_id=order_id,
            platform_fee_cents=platform_fee_cents,
            refunded_cents=refunded_cents,
            state=state,
            total_cents=total_cents,
            paid_at=paid_at,
        )

        earning_entry.additional_properties = d
        return earning_entry

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
