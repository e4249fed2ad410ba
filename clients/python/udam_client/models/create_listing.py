from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.create_listing_currency_type_1 import (
    CreateListingCurrencyType1,
    check_create_listing_currency_type_1,
)
from ..models.create_listing_currency_type_2_type_1 import (
    CreateListingCurrencyType2Type1,
    check_create_listing_currency_type_2_type_1,
)
from ..models.create_listing_currency_type_3_type_1 import (
    CreateListingCurrencyType3Type1,
    check_create_listing_currency_type_3_type_1,
)
from ..models.delivery import Delivery, check_delivery
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.gateway_input import GatewayInput


T = TypeVar("T", bound="CreateListing")


@_attrs_define
class CreateListing:
    """Body of `POST /listings`.

    Attributes:
        api_key (str): The key buyers will receive: 1 to 4096 printable ASCII characters (bytes).
            Stored sealed, never shown again. Example: sk_weather_5f2c9e1d.
        available_units (int): 0 to 1,000,000,000. Example: 100.
        price_cents (int): 0 to 100,000,000, in the currency's minor unit. Example: 250.
        service_name (str): 1 to 200 characters, not only blanks, no control characters. Example: Weather API.
        currency (CreateListingCurrencyType1 | CreateListingCurrencyType2Type1 | CreateListingCurrencyType3Type1 | None
            | Unset): ISO 4217 code, default `usd` (any case). Example: usd.
        delivery (Delivery | None | Unset):
        description (str | Unset): Up to 10,000 characters.
        gateway (GatewayInput | None | Unset):
        unit_description (None | str | Unset): What one unit is; default "per unit". Same rules as `service_name`.
            Example: per 1000 requests.
    """

    api_key: str
    available_units: int
    price_cents: int
    service_name: str
    currency: (
        CreateListingCurrencyType1
        | CreateListingCurrencyType2Type1
        | CreateListingCurrencyType3Type1
        | None
        | Unset
    ) = UNSET
    delivery: Delivery | None | Unset = UNSET
    description: str | Unset = UNSET
    gateway: GatewayInput | None | Unset = UNSET
    unit_description: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.gateway_input import GatewayInput

        api_key = self.api_key

        available_units = self.available_units

        price_cents = self.price_cents

        service_name = self.service_name

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        elif (
            isinstance(self.currency, str)
            or isinstance(self.currency, str)
            or isinstance(self.currency, str)
        ):
            currency = self.currency
        else:
            currency = self.currency

        delivery: None | str | Unset
        if isinstance(self.delivery, Unset):
            delivery = UNSET
        elif isinstance(self.delivery, str):
            delivery = self.delivery
        else:
            delivery = self.delivery

        description = self.description

        gateway: dict[str, Any] | None | Unset
        if isinstance(self.gateway, Unset):
            gateway = UNSET
        elif isinstance(self.gateway, GatewayInput):
            gateway = self.gateway.to_dict()
        else:
            gateway = self.gateway

        unit_description: None | str | Unset
        if isinstance(self.unit_description, Unset):
            unit_description = UNSET
        else:
            unit_description = self.unit_description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "api_key": api_key,
                "available_units": available_units,
                "price_cents": price_cents,
                "service_name": service_name,
            }
        )
        if currency is not UNSET:
            field_dict["currency"] = currency
        if delivery is not UNSET:
            field_dict["delivery"] = delivery
        if description is not UNSET:
            field_dict["description"] = description
        if gateway is not UNSET:
            field_dict["gateway"] = gateway
        if unit_description is not UNSET:
            field_dict["unit_description"] = unit_description

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.gateway_input import GatewayInput

        d = dict(src_dict)
        api_key = d.pop("api_key")

        available_units = d.pop("available_units")

        price_cents = d.pop("price_cents")

        service_name = d.pop("service_name")

        def _parse_currency(
            data: object,
        ) -> (
            CreateListingCurrencyType1
            | CreateListingCurrencyType2Type1
            | CreateListingCurrencyType3Type1
            | None
            | Unset
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                currency_type_1 = check_create_listing_currency_type_1(data)

                return currency_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                currency_type_2_type_1 = check_create_listing_currency_type_2_type_1(
                    data
                )

                return currency_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                currency_type_3_type_1 = check_create_listing_currency_type_3_type_1(
                    data
                )

                return currency_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                CreateListingCurrencyType1
                | CreateListingCurrencyType2Type1
                | CreateListingCurrencyType3Type1
                | None
                | Unset,
                data,
            )

        currency = _parse_currency(d.pop("currency", UNSET))

        def _parse_delivery(data: object) -> Delivery | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivery_type_0 = check_delivery(data)

                return delivery_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Delivery | None | Unset, data)

        delivery = _parse_delivery(d.pop("delivery", UNSET))

        description = d.pop("description", UNSET)

        def _parse_gateway(data: object) -> GatewayInput | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                gateway_type_0 = GatewayInput.from_dict(data)

                return gateway_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GatewayInput | None | Unset, data)

        gateway = _parse_gateway(d.pop("gateway", UNSET))

        def _parse_unit_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        unit_description = _parse_unit_description(d.pop("unit_description", UNSET))

        create_listing = cls(
            api_key=api_key,
            available_units=available_units,
            price_cents=price_cents,
            service_name=service_name,
            currency=currency,
            delivery=delivery,
            description=description,
            gateway=gateway,
            unit_description=unit_description,
        )

        return create_listing
