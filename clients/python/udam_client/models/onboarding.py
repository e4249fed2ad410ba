from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.connected_account import ConnectedAccount


T = TypeVar("T", bound="Onboarding")


@_attrs_define
class Onboarding:
    """An onboarding link for a seller's connected account.

    Attributes:
        account (ConnectedAccount): A seller's connected account, as Stripe last described it.
        onboarding_url (str): Stripe's onboarding form; single use, valid for minutes.
        expires_at (None | str | Unset): When the link stops working (RFC 3339), if Stripe said.
    """

    account: ConnectedAccount
    onboarding_url: str
    expires_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account = self.account.to_dict()

        onboarding_url = self.onboarding_url

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account": account,
                "onboarding_url": onboarding_url,
            }
        )
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connected_account import ConnectedAccount

        d = dict(src_dict)
        account = ConnectedAccount.from_dict(d.pop("account"))

        onboarding_url = d.pop("onboarding_url")

        def _parse_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        onboarding = cls(
            account=account,
            onboarding_url=onboarding_url,
            expires_at=expires_at,
        )

        onboarding.additional_properties = d
        return onboarding

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
