from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.gateway_patch import GatewayPatch


T = TypeVar("T", bound="UpdateListing")


@_attrs_define
class UpdateListing:
    """Body of `PATCH /listings/{id}`: every field optional.

    Attributes:
        api_key (None | str | Unset): A new key (rotation); sealed like the first.
        available_units (int | None | Unset): New number of units left.
        description (None | str | Unset): New description.
        gateway (GatewayPatch | None | Unset):
        price_cents (int | None | Unset): New price per unit, 0 to 100,000,000.
        status (None | str | Unset): `active` or `paused` (archive with DELETE).
        unit_description (None | str | Unset): New unit description.
        upstream_base_url (None | str | Unset): Gateway listings: a new upstream base URL (checked like the first); the
            same
            as `gateway.upstream_base_url`.
    """

    api_key: None | str | Unset = UNSET
    available_units: int | None | Unset = UNSET
    description: None | str | Unset = UNSET
    gateway: GatewayPatch | None | Unset = UNSET
    price_cents: int | None | Unset = UNSET
    status: None | str | Unset = UNSET
    unit_description: None | str | Unset = UNSET
    upstream_base_url: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.gateway_patch import GatewayPatch

        api_key: None | str | Unset
        if isinstance(self.api_key, Unset):
            api_key = UNSET
        else:
            api_key = self.api_key

        available_units: int | None | Unset
        if isinstance(self.available_units, Unset):
            available_units = UNSET
        else:
            available_units = self.available_units

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        gateway: dict[str, Any] | None | Unset
        if isinstance(self.gateway, Unset):
            gateway = UNSET
        elif isinstance(self.gateway, GatewayPatch):
            gateway = self.gateway.to_dict()
        else:
            gateway = self.gateway

        price_cents: int | None | Unset
        if isinstance(self.price_cents, Unset):
            price_cents = UNSET
        else:
            price_cents = self.price_cents

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        unit_description: None | str | Unset
        if isinstance(self.unit_description, Unset):
            unit_description = UNSET
        else:
            unit_description = self.unit_description

        upstream_base_url: None | str | Unset
        if isinstance(self.upstream_base_url, Unset):
            upstream_base_url = UNSET
        else:
            upstream_base_url = self.upstream_base_url

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if api_key is not UNSET:
            field_dict["api_key"] = api_key
        if available_units is not UNSET:
            field_dict["available_units"] = available_units
        if description is not UNSET:
            field_dict["description"] = description
        if gateway is not UNSET:
            field_dict["gateway"] = gateway
        if price_cents is not UNSET:
            field_dict["price_cents"] = price_cents
        if status is not UNSET:
            field_dict["status"] = status
        if unit_description is not UNSET:
            field_dict["unit_description"] = unit_description
        if upstream_base_url is not UNSET:
            field_dict["upstream_base_url"] = upstream_base_url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.gateway_patch import GatewayPatch

        d = dict(src_dict)

        def _parse_api_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        api_key = _parse_api_key(d.pop("api_key", UNSET))

        def _parse_available_units(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        available_units = _parse_available_units(d.pop("available_units", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_gateway(data: object) -> GatewayPatch | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                gateway_type_0 = GatewayPatch.from_dict(data)

                return gateway_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GatewayPatch | None | Unset, data)

        gateway = _parse_gateway(d.pop("gateway", UNSET))

        def _parse_price_cents(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        price_cents = _parse_price_cents(d.pop("price_cents", UNSET))

        def _parse_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        def _parse_unit_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        unit_description = _parse_unit_description(d.pop("unit_description", UNSET))

        def _parse_upstream_base_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        upstream_base_url = _parse_upstream_base_url(d.pop("upstream_base_url", UNSET))

        update_listing = cls(
            api_key=api_key,
            available_units=available_units,
            description=description,
            gateway=gateway,
            price_cents=price_cents,
            status=status,
            unit_description=unit_description,
            upstream_base_url=upstream_base_url,
        )

        return update_listing
