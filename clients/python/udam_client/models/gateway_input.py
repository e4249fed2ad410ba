from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.meter import Meter, check_meter
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.route_cost import RouteCost


T = TypeVar("T", bound="GatewayInput")


@_attrs_define
class GatewayInput:
    """The `gateway` object of a new listing (with `delivery: "gateway"`).

    Attributes:
        requests_per_unit (int): Requests one unit buys, 1 to 1,000,000,000. Example: 1000.
        upstream_base_url (str): `https://` base URL of the seller's API (`http` only with
            `--gateway-allow-http`); no credentials, query or fragment. Its host must not
            resolve to a loopback, private, link-local or metadata address. Example: https://api.weather.example/v2.
        inject_header (None | str | Unset): Header the seller's key goes into (default `Authorization`, unless
            `inject_query` is set). Example: Authorization.
        inject_query (None | str | Unset): Query parameter the seller's key goes into, instead of a header. Example:
            api_key.
        inject_template (None | str | Unset): The header's value; `{key}` is replaced by the seller's key (default
            `Bearer {key}` for `Authorization`, `{key}` otherwise). Example: Bearer {key}.
        meter (Meter | None | Unset):
        rate_limit_per_minute (int | None | Unset): Requests per minute one buyer key may make (1 to 1,000,000; default
            none).
            Shared by every replica through Redis when `--redis-url` is set. Past it the
            gateway answers 429 with `Retry-After`, and nothing is taken from the allowance. Example: 600.
        route_costs (list[RouteCost] | None | Unset): Requests a call takes from the allowance, per path prefix (longest
            prefix
            wins; other paths cost 1); at most 32.
    """

    requests_per_unit: int
    upstream_base_url: str
    inject_header: None | str | Unset = UNSET
    inject_query: None | str | Unset = UNSET
    inject_template: None | str | Unset = UNSET
    meter: Meter | None | Unset = UNSET
    rate_limit_per_minute: int | None | Unset = UNSET
    route_costs: list[RouteCost] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        requests_per_unit = self.requests_per_unit

        upstream_base_url = self.upstream_base_url

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

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "requests_per_unit": requests_per_unit,
                "upstream_base_url": upstream_base_url,
            }
        )
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
        if route_costs is not UNSET:
            field_dict["route_costs"] = route_costs

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.route_cost import RouteCost

        d = dict(src_dict)
        requests_per_unit = d.pop("requests_per_unit")

        upstream_base_url = d.pop("upstream_base_url")

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

        gateway_input = cls(
            requests_per_unit=requests_per_unit,
            upstream_base_url=upstream_base_url,
            inject_header=inject_header,
            inject_query=inject_query,
            inject_template=inject_template,
            meter=meter,
            rate_limit_per_minute=rate_limit_per_minute,
            route_costs=route_costs,
        )

        return gateway_input
