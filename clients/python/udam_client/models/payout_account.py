from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.payout_provider_kind import PayoutProviderKind, check_payout_provider_kind
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.connected_account import ConnectedAccount


T = TypeVar("T", bound="PayoutAccount")


@_attrs_define
class PayoutAccount:
    """Where a seller's payouts go.

    Attributes:
        provider (PayoutProviderKind): Who moves a payout's money.
            - `dev`: No money moves: the payout is recorded as a simulation (no Stripe configured).
            - `stripe`: A Stripe Connect transfer to the seller's connected account.
        simulated (bool): True when payouts are simulated (no Stripe configured).
        account (ConnectedAccount | None | Unset):
    """

    provider: PayoutProviderKind
    simulated: bool
    account: ConnectedAccount | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.connected_account import ConnectedAccount

        provider: str = self.provider

        simulated = self.simulated

        account: dict[str, Any] | None | Unset
        if isinstance(self.account, Unset):
            account = UNSET
        elif isinstance(self.account, ConnectedAccount):
            account = self.account.to_dict()
        else:
            account = self.account

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "provider": provider,
                "simulated": simulated,
            }
        )
        if account is not UNSET:
            field_dict["account"] = account

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connected_account import ConnectedAccount

        d = dict(src_dict)
        provider = check_payout_provider_kind(d.pop("provider"))

        simulated = d.pop("simulated")

        def _parse_account(data: object) -> ConnectedAccount | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                account_type_0 = ConnectedAccount.from_dict(data)

                return account_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ConnectedAccount | None | Unset, data)

        account = _parse_account(d.pop("account", UNSET))

        payout_account = cls(
            provider=provider,
            simulated=simulated,
            account=account,
        )

        payout_account.additional_properties = d
        return payout_account

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
