from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.order_status import OrderStatus, check_order_status
from ..models.payment_status import PaymentStatus, check_payment_status
from ..types import UNSET, Unset

T = TypeVar("T", bound="OrderView")


@_attrs_define
class OrderView:
    """An order as the API shows it.

    Attributes:
        buyer_id (str): The buyer.
        created_at (str): RFC 3339 UTC.
        currency (str): Lowercase ISO 4217 code.
        id (str): Opaque id.
        listing_id (str): The listing bought.
        payment_status (PaymentStatus): How an order's money stands.
            - `deferred`: Fulfilled now and owed on the buyer's balance (small orders).
            - `unpaid`: Waiting for the checkout to be paid.
            - `paid`: Paid, at checkout or by settling the balance.
            - `refunded`: Paid, then refunded.
        seller_id (str): The listing's seller.
        service_name (str): The listing's name when ordered.
        status (OrderStatus): Where an order stands.
            - `pending_payment`: Units are reserved while the buyer pays at the provider's checkout.
            - `fulfilled`: Paid or billed to the balance; the buyer holds an access grant.
            - `cancelled`: The buyer cancelled before paying; the units went back.
            - `expired`: The reservation lapsed unpaid; the units went back.
            - `failed`: The payment failed or the provider was unreachable; the units went back.
            - `refunded`: The payment was refunded; the grant was revoked.
        total_cents (int): Total, minor units.
        unit_price_cents (int): Price per unit, minor units.
        units (int): Units bought.
        updated_at (str): RFC 3339 UTC.
        checkout_url (None | str | Unset): Where to pay, while payment is pending.
        expires_at (None | str | Unset): When the reservation lapses, while payment is pending (RFC 3339).
    """

    buyer_id: str
    created_at: str
    currency: str
    id: str
    listing_id: str
    payment_status: PaymentStatus
    seller_id: str
    service_name: str
    status: OrderStatus
    total_cents: int
    unit_price_cents: int
    units: int
    updated_at: str
    checkout_url: None | str | Unset = UNSET
    expires_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        buyer_id = self.buyer_id

        created_at = self.created_at

        currency = self.currency

        id = self.id

        listing_id = self.listing_id

        payment_status: str = self.payment_status

        seller_id = self.seller_id

        service_name = self.service_name

        status: str = self.status

        total_cents = self.total_cents

        unit_price_cents = self.unit_price_cents

        units = self.units

        updated_at = self.updated_at

        checkout_url: None | str | Unset
        if isinstance(self.checkout_url, Unset):
            checkout_url = UNSET
        else:
            checkout_url = self.checkout_url

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "buyer_id": buyer_id,
                "created_at": created_at,
                "currency": currency,
                "id": id,
                "listing_id": listing_id,
                "payment_status": payment_status,
                "seller_id": seller_id,
                "service_name": service_name,
                "status": status,
                "total_cents": total_cents,
                "unit_price_cents": unit_price_cents,
                "units": units,
                "updated_at": updated_at,
            }
        )
        if checkout_url is not UNSET:
            field_dict["checkout_url"] = checkout_url
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        buyer_id = d.pop("buyer_id")

        created_at = d.pop("created_at")

        currency = d.pop("currency")

        id = d.pop("id")

        listing_id = d.pop("listing_id")

        payment_status = check_payment_status(d.pop("payment_status"))

        seller_id = d.pop("seller_id")

        service_name = d.pop("service_name")

        status = check_order_status(d.pop("status"))

        total_cents = d.pop("total_cents")

        unit_price_cents = d.pop("unit_price_cents")

        units = d.pop("units")

        updated_at = d.pop("updated_at")

        def _parse_checkout_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        checkout_url = _parse_checkout_url(d.pop("checkout_url", UNSET))

        def _parse_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        order_view = cls(
            buyer_id=buyer_id,
            created_at=created_at,
            currency=currency,
            id=id,
            listing_id=listing_id,
            payment_status=payment_status,
            seller_id=seller_id,
            service_name=service_name,
            status=status,
            total_cents=total_cents,
            unit_price_cents=unit_price_cents,
            units=units,
            updated_at=updated_at,
            checkout_url=checkout_url,
            expires_at=expires_at,
        )

        order_view.additional_properties = d
        return order_view

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
