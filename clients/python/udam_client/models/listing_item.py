from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.delivery import Delivery, check_delivery
from ..models.listing_availability import (
    ListingAvailability,
    check_listing_availability,
)
from ..models.meter import Meter, check_meter
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.highlight import Highlight
    from ..models.route_cost import RouteCost


T = TypeVar("T", bound="ListingItem")


@_attrs_define
class ListingItem:
    """A listing in a page, with its highlights when the page answers a search.

    Attributes:
        api_key_hint (str): Last 4 characters of the seller's API key (or `****` for keys under 8 characters). Example:
            x9Qz.
        available_units (int): Units left.
        created_at (str): RFC 3339 UTC.
        currency (str): Lowercase ISO 4217 code. Example: usd.
        delivery (Delivery): How buyers of a listing reach the service.
            - `key`: Buyers receive the seller's API key itself (the original mode).
            - `gateway`: Buyers receive their own UDAM key and call through the metered gateway, which injects the seller's
            key upstream.
        description (str): Free text.
        id (str): Opaque id.
        price_cents (int): Price per unit, in the currency's minor unit.
        seller_id (str): The seller.
        service_name (str): Name of the data service.
        status (ListingAvailability): Whether a listing sells, as buyers see it.
            - `active`: For sale, with units left.
            - `sold_out`: For sale, but no units are left.
            - `paused`: Hidden from buyers by its seller for now.
            - `archived`: Withdrawn for good.
        unit_description (str): What one unit is.
        updated_at (str): RFC 3339 UTC: when the seller last edited the listing or units came back
            (a lapsed or refunded order). A sale does not move it; `available_units` does.
        meter (Meter | None | Unset):
        rate_limit_per_minute (int | None | Unset): Gateway listings: requests per minute one buyer key may make (null:
            no
            limit). Shown on single listings, not in browse pages.
        requests_per_unit (int | None | Unset): Gateway listings: requests one unit buys (null otherwise).
        route_costs (list[RouteCost] | None | Unset): Gateway listings: requests a call takes, per path prefix (longest
            wins; other
            paths cost 1). Shown on single listings, not in browse pages.
        highlight (Highlight | None | Unset):
    """

    api_key_hint: str
    available_units: int
    created_at: str
    currency: str
    delivery: Delivery
    description: str
    id: str
    price_cents: int
    seller_id: str
    service_name: str
    status: ListingAvailability
    unit_description: str
    updated_at: str
    meter: Meter | None | Unset = UNSET
    rate_limit_per_minute: int | None | Unset = UNSET
    requests_per_unit: int | None | Unset = UNSET
    route_costs: list[RouteCost] | None | Unset = UNSET
    highlight: Highlight | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.highlight import Highlight

        api_key_hint = self.api_key_hint

        available_units = self.available_units

        created_at = self.created_at

        currency = self.currency

        delivery: str = self.delivery

        description = self.description

        id = self.id

        price_cents = self.price_cents

        seller_id = self.seller_id

        service_name = self.service_name

        status: str = self.status

        unit_description = self.unit_description

        updated_at = self.updated_at

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

        highlight: dict[str, Any] | None | Unset
        if isinstance(self.highlight, Unset):
            highlight = UNSET
        elif isinstance(self.highlight, Highlight):
            highlight = self.highlight.to_dict()
        else:
            highlight = self.highlight

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "api_key_hint": api_key_hint,
                "available_units": available_units,
                "created_at": created_at,
                "currency": currency,
                "delivery": delivery,
                "description": description,
                "id": id,
                "price_cents": price_cents,
                "seller_id": seller_id,
                "service_name": service_name,
                "status": status,
                "unit_description": unit_description,
                "updated_at": updated_at,
            }
        )
        if meter is not UNSET:
            field_dict["meter"] = meter
        if rate_limit_per_minute is not UNSET:
            field_dict["rate_limit_per_minute"] = rate_limit_per_minute
        if requests_per_unit is not UNSET:
            field_dict["requests_per_unit"] = requests_per_unit
        if route_costs is not UNSET:
            field_dict["route_costs"] = route_costs
        if highlight is not UNSET:
            field_dict["highlight"] = highlight

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.highlight import Highlight
        from ..models.route_cost import RouteCost

        d = dict(src_dict)
        api_key_hint = d.pop("api_key_hint")

        available_units = d.pop("available_units")

        created_at = d.pop("created_at")

        currency = d.pop("currency")

        delivery = check_delivery(d.pop("delivery"))

        description = d.pop("description")

        id = d.pop("id")

        price_cents = d.pop("price_cents")

        seller_id = d.pop("seller_id")

        service_name = d.pop("service_name")

        status = check_listing_availability(d.pop("status"))

        unit_description = d.pop("unit_description")

        updated_at = d.pop("updated_at")

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

        def _parse_highlight(data: object) -> Highlight | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                highlight_type_0 = Highlight.from_dict(data)

                return highlight_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Highlight | None | Unset, data)

        highlight = _parse_highlight(d.pop("highlight", UNSET))

        listing_item = cls(
            api_key_hint=api_key_hint,
            available_units=available_units,
            created_at=created_at,
            currency=currency,
            delivery=delivery,
            description=description,
            id=id,
            price_cents=price_cents,
            seller_id=seller_id,
            service_name=service_name,
            status=status,
            unit_description=unit_description,
            updated_at=updated_at,
            meter=meter,
            rate_limit_per_minute=rate_limit_per_minute,
            requests_per_unit=requests_per_unit,
            route_costs=route_costs,
            highlight=highlight,
        )

        listing_item.additional_properties = d
        return listing_item

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
