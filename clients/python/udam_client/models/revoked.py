from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.grant_status import GrantStatus, check_grant_status

T = TypeVar("T", bound="Revoked")


@_attrs_define
class Revoked:
    """Revocation result.

    Attributes:
        id (str): The grant id.
        status (GrantStatus): Whether a buyer's access grant (token) works.
            - `active`: The buyer may use the seller's key.
            - `revoked`: Revoked by the buyer, the seller or a refund.
    """

    id: str
    status: GrantStatus
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        status: str = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        status = check_grant_status(d.pop("status"))

        revoked = cls(
            id=id,
            status=status,
        )

        revoked.additional_properties = d
        return revoked

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
