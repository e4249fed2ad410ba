from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="RolledKey")


@_attrs_define
class RolledKey:
    """A rolled (or first issued) key.

    Attributes:
        gateway_key (str): The new key, in full; shown this once.
        gateway_key_hint (str): Its prefix and last four characters.
        id (str): The grant the roll was asked through.
        listing_id (str): The listing the key is for.
        gateway_url (None | str | Unset): The base URL to call.
        previous_key_expires_at (None | str | Unset): Until when the old key still works (RFC 3339), or null when it
            stopped at once.
    """

    gateway_key: str
    gateway_key_hint: str
    id: str
    listing_id: str
    gateway_url: None | str | Unset = UNSET
    previous_key_expires_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gateway_key = self.gateway_key

        gateway_key_hint = self.gateway_key_hint

        id = self.id

        listing_id = self.listing_id

        gateway_url: None | str | Unset
        if isinstance(self.gateway_url, Unset):
            gateway_url = UNSET
        else:
            gateway_url = self.gateway_url

        previous_key_expires_at: None | str | Unset
        if isinstance(self.previous_key_expires_at, Unset):
            previous_key_expires_at = UNSET
        else:
            previous_key_expires_at = self.previous_key_expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "gateway_key": gateway_key,
                "gateway_key_hint": gateway_key_hint,
                "id": id,
                "listing_id": listing_id,
            }
        )
        if gateway_url is not UNSET:
            field_dict["gateway_url"] = gateway_url
        if previous_key_expires_at is not UNSET:
            field_dict["previous_key_expires_at"] = previous_key_expires_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        gateway_key = d.pop("gateway_key")

        gateway_key_hint = d.pop("gateway_key_hint")

        id = d.pop("id")

        listing_id = d.pop("listing_id")

        def _parse_gateway_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gateway_url = _parse_gateway_url(d.pop("gateway_url", UNSET))

        def _parse_previous_key_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        previous_key_expires_at = _parse_previous_key_expires_at(
            d.pop("previous_key_expires_at", UNSET)
        )

        rolled_key = cls(
            gateway_key=gateway_key,
            gateway_key_hint=gateway_key_hint,
            id=id,
            listing_id=listing_id,
            gateway_url=gateway_url,
            previous_key_expires_at=previous_key_expires_at,
        )

        rolled_key.additional_properties = d
        return rolled_key

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
