from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PayoutRunResult")


@_attrs_define
class PayoutRunResult:
    """What `POST /admin/payouts/run` did.

    Attributes:
        failed (int): Sends that failed and stay pending for the next run.
        ran (bool): False when another process was running payouts (nothing done).
        recorded (int): Payouts recorded.
        refused (int): Payouts the provider refused for good: now `failed`, their amount available
            again for the next run.
        sent (int): Payouts sent (new or retried).
    """

    failed: int
    ran: bool
    recorded: int
    refused: int
    sent: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        failed = self.failed

        ran = self.ran

        recorded = self.recorded

        refused = self.refused

        sent = self.sent

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "failed": failed,
                "ran": ran,
                "recorded": recorded,
                "refused": refused,
                "sent": sent,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        failed = d.pop("failed")

        ran = d.pop("ran")

        recorded = d.pop("recorded")

        refused = d.pop("refused")

        sent = d.pop("sent")

        payout_run_result = cls(
            failed=failed,
            ran=ran,
            recorded=recorded,
            refused=refused,
            sent=sent,
        )

        payout_run_result.additional_properties = d
        return payout_run_result

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
