from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.delivery import Delivery, check_delivery
from ..models.grant_status import GrantStatus, check_grant_status
from ..types import UNSET, Unset

T = TypeVar("T", bound="TokenView")


@_attrs_define
class TokenView:
    """A grant as the buyer sees it.

    Attributes:
        created_at (str): RFC 3339 UTC.
        delivery (Delivery): How buyers of a listing reach the service.
            - `key`: Buyers receive the seller's API key itself (the original mode).
            - `gateway`: Buyers receive their own UDAM key and call through the metered gateway, which injects the seller's
            key upstream.
        id (str): Grant id, `tok_…`.
        listing_id (str): The listing.
        order_id (str): The order that bought it.
        service_name (str): The listing's name.
        status (GrantStatus): Whether a buyer's access grant (token) works.
            - `active`: The buyer may use the seller's key.
            - `revoked`: Revoked by the buyer, the seller or a refund.
        units (int): Units bought.
        access_token (None | str | Unset): `key` listings: the seller's API key; null once revoked, and always null for
            `gateway` listings (their buyers hold `gateway_key`).
        gateway_key (None | str | Unset): Gateway listings: the buyer's key, in full only in the answer that issued it
            (the first read after the first order, or a roll); null afterwards.
        gateway_key_hint (None | str | Unset): Gateway listings: the key's prefix and last four characters.
        gateway_url (None | str | Unset): Gateway listings: the base URL to call, `{gateway}/{listing_id}/`.
        requests_allowed (int | None | Unset): Gateway listings: requests bought (active grants' units × requests per
            unit).
        requests_used (int | None | Unset): Gateway listings: requests taken so far by the key (all its grants
            together).
    """

    created_at: str
    delivery: Delivery
    id: str
    listing_id: str
    order_id: str
    service_name: str
    status: GrantStatus
    units: int
    access_token: None | str | Unset = UNSET
    gateway_key: None | str | Unset = UNSET
    gateway_key_hint: None | str | Unset = UNSET
    gateway_url: None | str | Unset = UNSET
    requests_allowed: int | None | Unset = UNSET
    requests_used: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        delivery: str = self.delivery

        id = self.id

        listing_id = self.listing_id

        order_id = self.order_id

        service_name = self.service_name

        status: str = self.status

        units = self.units

        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

        gateway_key: None | str | Unset
        if isinstance(self.gateway_key, Unset):
            gateway_key = UNSET
        else:
            gateway_key = self.gateway_key

        gateway_key_hint: None | str | Unset
        if isinstance(self.gateway_key_hint, Unset):
            gateway_key_hint = UNSET
        else:
            gateway_key_hint = self.gateway_key_hint

        gateway_url: None | str | Unset
        if isinstance(self.gateway_url, Unset):
            gateway_url = UNSET
        else:
            gateway_url = self.gateway_url

        requests_allowed: int | None | Unset
        if isinstance(self.requests_allowed, Unset):
            requests_allowed = UNSET
        else:
            requests_allowed = self.requests_allowed

        requests_used: int | None | Unset
        if isinstance(self.requests_used, Unset):
            requests_used = UNSET
        else:
            requests_used = self.requests_used

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "delivery": delivery,
                "id": id,
                "listing_id": listing_id,
                "order_id": order_id,
                "service_name": service_name,
                "status": status,
                "units": units,
            }
        )
        if access_token is not UNSET:
            field_dict["access_token"] = access_token
        if gateway_key is not UNSET:
            field_dict["gateway_key"] = gateway_key
        if gateway_key_hint is not UNSET:
            field_dict["gateway_key_hint"] = gateway_key_hint
        if gateway_url is not UNSET:
            field_dict["gateway_url"] = gateway_url
        if requests_allowed is not UNSET:
            field_dict["requests_allowed"] = requests_allowed
        if requests_used is not UNSET:
            field_dict["requests_used"] = requests_used

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        delivery = check_delivery(d.pop("delivery"))

        id = d.pop("id")

        listing_id = d.pop("listing_id")

        order_id = d.pop("order_id")

        service_name = d.pop("service_name")

        status = check_grant_status(d.pop("status"))

        units = d.pop("units")

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        def _parse_gateway_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gateway_key = _parse_gateway_key(d.pop("gateway_key", UNSET))

        def _parse_gateway_key_hint(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gateway_key_hint = _parse_gateway_key_hint(d.pop("gateway_key_hint", UNSET))

        def _parse_gateway_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gateway_url = _parse_gateway_url(d.pop("gateway_url", UNSET))

        def _parse_requests_allowed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        requests_allowed = _parse_requests_allowed(d.pop("requests_allowed", UNSET))

        def _parse_requests_used(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        requests_used = _parse_requests_used(d.pop("requests_used", UNSET))

        token_view = cls(
            created_at=created_at,
            delivery=delivery,
            id=id,
            listing_id=listing_id,
            order_id=order_id,
            service_name=service_name,
            status=status,
            units=units,
            access_token=access_token,
            gateway_key=gateway_key,
            gateway_key_hint=gateway_key_hint,
            gateway_url=gateway_url,
            requests_allowed=requests_allowed,
            requests_used=requests_used,
        )

        token_view.additional_properties = d
        return token_view

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
