from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.meter import Meter, check_meter
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.route_cost import RouteCost


T = TypeVar("T", bound="GatewayPatch")


@_attrs_define
class GatewayPatch:
    """The `gateway` object of `PATCH /listings/{id}`: every field optional. What it
    changes applies to requests from then on; grants already sold keep the requests
    they were bought with (a new `requests_per_unit` applies to later purchases).

        Attributes:
            inject_header (None | str | Unset): With `inject_template` and `inject_query`: a new way to inject the seller's
                key. Giving any of the three replaces the injection as a whole, with the same
                defaults as at creation.
            inject_query (None | str | Unset): See `inject_header`.
            inject_template (None | str | Unset): See `inject_header`.
            meter (Meter | None | Unset):
            rate_limit_per_minute (int | None | Unset): A per-key rate limit (1 to 1,000,000 per minute); 0 removes it.
            requests_per_unit (int | None | Unset): Requests one unit buys from now on (grants already sold keep theirs).
            route_costs (list[RouteCost] | None | Unset): Replaces the route costs (`[]` removes them).
            upstream_base_url (None | str | Unset): A new upstream base URL, checked like the first (addresses included).
    """

    inject_header: None | str | Unset = UNSET
    inject_query: None | str | Unset = UNSET
    inject_template: None | str | Unset = UNSET
    meter: Meter | None | Unset = UNSET
    rate_limit_per_minute: int | None | Unset = UNSET
    requests_per_unit: int | None | Unset = UNSET
    route_costs: list[RouteCost] | None | Unset = UNSET
    upstream_base_url: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        inject_header: None | str | Unset
        if isinstance(self.inject_header, Unset):
            inject_header = UNSET
        else:
            inject_header = self.inject_header

        inject_query: None | str | Unset
        if isinstance(self.inject_query, Unset):
            inject_query = UNSET
        else:
            inject_query = self.inject_query

        inject_template: None | str | Unset
        if isinstance(self.inject_template, Unset):
            inject_template = UNSET
        else:
            inject_template = self.inject_template

        meter: None | str | Unset
        if isinstance(self.meter, Unset):
            meter = UNSET
        elif isinstance(self.meter, str):
            meter = self.meter
        else:
            meter = self.meter

        rate_limit_per_minute: int | None | Unset
        if isinstance(self.rate_limit_per_minute, Unset):
            rate_limit_per_minute = UNSET
        else:
            rate_limit_per_minute = self.rate_limit_per_minute

        requests_per_unit: int | None | Unset
        if isinstance(self.requests_per_unit, Unset):
            requests_per_unit = UNSET
        else:
            requests_per_unit = self.requests_per_unit

        route_costs: list[dict[str, Any]] | None | Unset
        if isinstance(self.route_costs, Unset):
            route_costs = UNSET
        elif isinstance(self.route_costs, list):
            route_costs = []
            for route_costs_type_0_item_data in self.route_costs:
                route_costs_type_0_item = route_costs_type_0_item_data.to_dict()
                route_costs.append(route_costs_type_0_item)

        else:
            route_costs = self.route_costs

        upstream_base_url: None | str | Unset
        if isinstance(self.upstream_base_url, Unset):
            upstream_base_url = UNSET
        else:
            upstream_base_url = self.upstream_base_url

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if inject_header is not UNSET:
            field_dict["inject_header"] = inject_header
        if inject_query is not UNSET:
            field_dict["inject_query"] = inject_query
        if inject_template is not UNSET:
            field_dict["inject_template"] = inject_template
        if meter is not UNSET:
            field_dict["meter"] = meter
        if rate_limit_per_minute is not UNSET:
            field_dict["rate_limit_per_minute"] = rate_limit_per_minute
        if requests_per_unit is not UNSET:
            field_dict["requests_per_unit"] = requests_per_unit
        if route_costs is not UNSET:
            field_dict["route_costs"] = route_costs
        if upstream_base_url is not UNSET:
            field_dict["upstream_base_url"] = upstream_base_url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.route_cost import RouteCost

        d = dict(src_dict)

        def _parse_inject_header(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        inject_header = _parse_inject_header(d.pop("inject_header", UNSET))

        def _parse_inject_query(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        inject_query = _parse_inject_query(d.pop("inject_query", UNSET))

        def _parse_inject_template(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        inject_template = _parse_inject_template(d.pop("inject_template", UNSET))

        def _parse_meter(data: object) -> Meter | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                meter_type_0 = check_meter(data)

                return meter_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Meter | None | Unset, data)

        meter = _parse_meter(d.pop("meter", UNSET))

        def _parse_rate_limit_per_minute(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        rate_limit_per_minute = _parse_rate_limit_per_minute(
            d.pop("rate_limit_per_minute", UNSET)
        )

        def _parse_requests_per_unit(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        requests_per_unit = _parse_requests_per_unit(d.pop("requests_per_unit", UNSET))

        def _parse_route_costs(data: object) -> list[RouteCost] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                route_costs_type_0 = []
                _route_costs_type_0 = data
                for route_costs_type_0_item_data in _route_costs_type_0:
                    route_costs_type_0_item = RouteCost.from_dict(
                        route_costs_type_0_item_data
                    )

                    route_costs_type_0.append(route_costs_type_0_item)

                return route_costs_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[RouteCost] | None | Unset, data)

        route_costs = _parse_route_costs(d.pop("route_costs", UNSET))

        def _parse_upstream_base_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        upstream_base_url = _parse_upstream_base_url(d.pop("upstream_base_url", UNSET))

        gateway_patch = cls(
            inject_header=inject_header,
            inject_query=inject_query,
            inject_template=inject_template,
            meter=meter,
            rate_limit_per_minute=rate_limit_per_minute,
            requests_per_unit=requests_per_unit,
            route_costs=route_costs,
            upstream_base_url=upstream_base_url,
        )

        return gateway_patch
