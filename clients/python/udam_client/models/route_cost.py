from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="RouteCost")


@_attrs_define
class RouteCost:
    """The cost of the requests whose path starts with `prefix`.

    Attributes:
        cost (int): Requests one such call takes from the allowance, 1 to 10000. Example: 10.
        prefix (str): Path prefix below the listing, starting with `/` (e.g. `/v1/reports/`):
            visible ASCII, at most 256 bytes, no `..`, `?` or `#`. Example: /v1/reports/.
    """

    cost: int
    prefix: str

    def to_dict(self) -> dict[str, Any]:
        cost = self.cost

        prefix = self.prefix

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cost": cost,
                "prefix": prefix,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cost = d.pop("cost")

        prefix = d.pop("prefix")

        route_cost = cls(
            cost=cost,
            prefix=prefix,
        )

        return route_cost
