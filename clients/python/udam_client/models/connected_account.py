from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ConnectedAccount")


@_attrs_define
class ConnectedAccount:
    """A seller's connected account, as Stripe last described it.

    Attributes:
        charges_enabled (bool): Stripe lets the account take charges.
        details_submitted (bool): The seller finished Stripe's onboarding form.
        id (str): Stripe's account id, `acct_…`.
        payouts_enabled (bool): Stripe pays out to the seller's bank; payouts are made only when true.
        requirements_due (list[str]): What Stripe still needs from the seller now (`requirements.currently_due`).
        updated_at (str): When UDAM last heard of it (RFC 3339).
    """

    charges_enabled: bool
    details_submitted: bool
    id: str
    payouts_enabled: bool
    requirements_due: list[str]
    updated_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        charges_enabled = self.charges_enabled

        details_submitted = self.details_submitted

        id = self.id

        payouts_enabled = self.payouts_enabled

        requirements_due = self.requirements_due

        updated_at = self.updated_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "charges_enabled": charges_enabled,
                "details_submitted": details_submitted,
                "id": id,
                "payouts_enabled": payouts_enabled,
                "requirements_due": requirements_due,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        charges_enabled = d.pop("charges_enabled")

        details_submitted = d.pop("details_submitted")

        id = d.pop("id")

        payouts_enabled = d.pop("payouts_enabled")

        requirements_due = cast(list[str], d.pop("requirements_due"))

        updated_at = d.pop("updated_at")

        connected_account = cls(
            charges_enabled=charges_enabled,
            details_submitted=details_submitted,
            id=id,
            payouts_enabled=payouts_enabled,
            requirements_due=requirements_due,
            updated_at=updated_at,
        )

        connected_account.additional_properties = d
        return connected_account

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
