from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.payout_provider_kind import PayoutProviderKind, check_payout_provider_kind
from ..models.payout_status import PayoutStatus, check_payout_status
from ..types import UNSET, Unset

T = TypeVar("T", bound="Payout")


@_attrs_define
class Payout:
    """One payout to a seller.

    Attributes:
        amount_cents (int): Minor units.
        attempts (int): Attempts made to send it.
        created_at (str): When it was recorded (RFC 3339).
        currency (str): Lowercase ISO 4217 code.
        id (str): `po_…`.
        provider (PayoutProviderKind): Who moves a payout's money.
            - `dev`: No money moves: the payout is recorded as a simulation (no Stripe configured).
            - `stripe`: A Stripe Connect transfer to the seller's connected account.
        seller_id (str): The seller paid.
        simulated (bool): True when no money moved (the dev payout provider).
        status (PayoutStatus): Where a payout stands.
            - `pending`: Recorded (the amount left the seller's payable), not yet confirmed sent by the payout provider;
            retried with the same idempotency key until it is.
            - `paid`: Sent by the payout provider (or, with the dev provider, simulated).
            - `failed`: Refused for good by the provider; the amount is available again.
            - `reversed`: Sent, then reversed by the provider; the amount is available again.
        updated_at (str): Last change (RFC 3339).
        destination (None | str | Unset): The connected account paid (`acct_…`, Stripe); absent for simulated payouts.
        transfer_id (None | str | Unset): The provider's transfer id, once sent.
    """

    amount_cents: int
    attempts: int
    created_at: str
    currency: str
    id: str
    provider: PayoutProviderKind
    seller_id: str
    simulated: bool
    status: PayoutStatus
    updated_at: str
    destination: None | str | Unset = UNSET
    transfer_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount_cents = self.amount_cents

        attempts = self.attempts

        created_at = self.created_at

        currency = self.currency

        id = self.id

        provider: str = self.provider

        seller_id = self.seller_id

        simulated = self.simulated

        status: str = self.status

        updated_at = self.updated_at

        destination: None | str | Unset
        if isinstance(self.destination, Unset):
            destination = UNSET
        else:
            destination = self.destination

        transfer_id: None | str | Unset
        if isinstance(self.transfer_id, Unset):
            transfer_id = UNSET
        else:
            transfer_id = self.transfer_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount_cents": amount_cents,
                "attempts": attempts,
                "created_at": created_at,
                "currency": currency,
                "id": id,
                "provider": provider,
                "seller_id": seller_id,
                "simulated": simulated,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if destination is not UNSET:
            field_dict["destination"] = destination
        if transfer_id is not UNSET:
            field_dict["transfer_id"] = transfer_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        amount_cents = d.pop("amount_cents")

        attempts = d.pop("attempts")

        created_at = d.pop("created_at")

        currency = d.pop("currency")

        id = d.pop("id")

        provider = check_payout_provider_kind(d.pop("provider"))

        seller_id = d.pop("seller_id")

        simulated = d.pop("simulated")

        status = check_payout_status(d.pop("status"))

        updated_at = d.pop("updated_at")

        def _parse_destination(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        destination = _parse_destination(d.pop("destination", UNSET))

        def _parse_transfer_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        transfer_id = _parse_transfer_id(d.pop("transfer_id", UNSET))

        payout = cls(
            amount_cents=amount_cents,
            attempts=attempts,
            created_at=created_at,
            currency=currency,
            id=id,
            provider=provider,
            seller_id=seller_id,
            simulated=simulated,
            status=status,
            updated_at=updated_at,
            destination=destination,
            transfer_id=transfer_id,
        )

        payout.additional_properties = d
        return payout

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
