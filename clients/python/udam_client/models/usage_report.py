from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.usage_granularity import UsageGranularity, check_usage_granularity

if TYPE_CHECKING:
    from ..models.usage_bucket import UsageBucket


T = TypeVar("T", bound="UsageReport")


@_attrs_define
class UsageReport:
    """A usage report.

    Attributes:
        granularity (UsageGranularity): The bucket size of a usage report.
            - `hour`: One bucket per hour, for the last 48 hours.
            - `day`: One bucket per day, for the last 30 days.
        items (list[UsageBucket]): Buckets with requests, oldest first (empty buckets are left out).
        requests_allowed (int): Requests bought: active grants' units × requests per unit.
        requests_used (int): Requests taken from the allowance so far (exact; the buckets may trail it by
            the flush interval).
    """

    granularity: UsageGranularity
    items: list[UsageBucket]
    requests_allowed: int
    requests_used: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        granularity: str = self.granularity

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        requests_allowed = self.requests_allowed

        requests_used = self.requests_used

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "granularity": granularity,
                "items": items,
                "requests_allowed": requests_allowed,
                "requests_used": requests_used,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.usage_bucket import UsageBucket

        d = dict(src_dict)
        granularity = check_usage_granularity(d.pop("granularity"))

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = UsageBucket.from_dict(items_item_data)

            items.append(items_item)

        requests_allowed = d.pop("requests_allowed")

        requests_used = d.pop("requests_used")

        usage_report = cls(
            granularity=granularity,
            items=items,
            requests_allowed=requests_allowed,
            requests_used=requests_used,
        )

        usage_report.additional_properties = d
        return usage_report

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
