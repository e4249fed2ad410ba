from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OrderKey")


@_attrs_define
class OrderKey:
    """A gateway key issued with an order, shown in that answer only.

    Attributes:
        gateway_key (str): The buyer's key for the listing, in full; shown this once.
        gateway_key_hint (str): Its prefix and last four characters.
        gateway_url (None | str | Unset): The base URL to call, `{gateway}/{listing_id}/`.
    """

    gateway_key: str
    gateway_key_hint: str
    gateway_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gateway_key = self.gateway_key

        gateway_key_hint = self.gateway_key_hint

        gateway_url: None | str | Unset
        if isinstance(self.gateway_url, Unset):
            gateway_url = UNSET
        else:
            gateway_url = self.gateway_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "gateway_key": gateway_key,
                "gateway_key_hint": gateway_key_hint,
            }
        )
        if gateway_url is not UNSET:
            field_dict["gateway_url"] = gateway_url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        gateway_key = d.pop("gateway_key")

        gateway_key_hint = d.pop("gateway_key_hint")

        def _parse_gateway_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gateway_url = _parse_gateway_url(d.pop("gateway_url", UNSET))

        order_key = cls(
            gateway_key=gateway_key,
            gateway_key_hint=gateway_key_hint,
            gateway_url=gateway_url,
        )

        order_key.additional_properties = d
        return order_key

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
