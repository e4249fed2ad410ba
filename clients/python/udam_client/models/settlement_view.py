from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.settlement_status import SettlementStatus, check_settlement_status
from ..types import UNSET, Unset

T = TypeVar("T", bound="SettlementView")


@_attrs_define
class SettlementView:
    """A settlement awaiting (or past) payment.

    Attributes:
        amount_cents (int): Amount to pay, minor units.
        created_at (str): RFC 3339 UTC.
        currency (str): Currency.
        id (str): `stl_…`
        status (SettlementStatus): Where a settlement of a buyer's balance stands.
            - `pending`: Waiting for the checkout to be paid.
            - `paid`: Paid: the orders it covers are paid.
            - `expired`: The checkout lapsed unpaid.
            - `failed`: The checkout failed, or the provider was unreachable.
            - `cancelled`: The buyer cancelled the checkout.
            - `refunded`: Paid, then its payment was refunded in full: the orders it paid are owed again. (A partial refund
            leaves it `paid`.)
        checkout_url (None | str | Unset): Where to pay.
    """

    amount_cents: int
    created_at: str
    currency: str
    id: str
    status: SettlementStatus
    checkout_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount_cents = self.amount_cents

        created_at = self.created_at

        currency = self.currency

        id = self.id

        status: str = self.status

        checkout_url: None | str | Unset
        if isinstance(self.checkout_url, Unset):
            checkout_url = UNSET
        else:
            checkout_url = self.checkout_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount_cents": amount_cents,
                "created_at": created_at,
                "currency": currency,
                "id": id,
                "status": status,
            }
        )
        if checkout_url is not UNSET:
            field_dict["checkout_url"] = checkout_url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        amount_cents = d.pop("amount_cents")

        created_at = d.pop("created_at")

        currency = d.pop("currency")

        id = d.pop("id")

        status = check_settlement_status(d.pop("status"))

        def _parse_checkout_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        checkout_url = _parse_checkout_url(d.pop("checkout_url", UNSET))

        settlement_view = cls(
            amount_cents=amount_cents,
            created_at=created_at,
            currency=currency,
            id=id,
            status=status,
            checkout_url=checkout_url,
        )

        settlement_view.additional_properties = d
        return settlement_view

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
