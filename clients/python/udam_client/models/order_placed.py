from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.order_key import OrderKey
    from ..models.order_view import OrderView


T = TypeVar("T", bound="OrderPlaced")


@_attrs_define
class OrderPlaced:
    """Answer of `POST /orders`: the order, and for the first fulfilled order of a
    gateway listing the buyer's new key.

        Attributes:
            order (OrderView): An order as the API shows it.
            payment_requires_confirmation (bool): True when the buyer must pay at `checkout_url` before getting a token.
            checkout_url (None | str | Unset): Where to pay, when payment is required.
            gateway (None | OrderKey | Unset):
    """

    order: OrderView
    payment_requires_confirmation: bool
    checkout_url: None | str | Unset = UNSET
    gateway: None | OrderKey | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.order_key import OrderKey

        order = self.order.to_dict()

        payment_requires_confirmation = self.payment_requires_confirmation

        checkout_url: None | str | Unset
        if isinstance(self.checkout_url, Unset):
            checkout_url = UNSET
        else:
            checkout_url = self.checkout_url

        gateway: dict[str, Any] | None | Unset
        if isinstance(self.gateway, Unset):
            gateway = UNSET
        elif isinstance(self.gateway, OrderKey):
            gateway = self.gateway.to_dict()
        else:
            gateway = self.gateway

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "order": order,
                "payment_requires_confirmation": payment_requires_confirmation,
            }
        )
        if checkout_url is not UNSET:
            field_dict["checkout_url"] = checkout_url
        if gateway is not UNSET:
            field_dict["gateway"] = gateway

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.order_key import OrderKey
        from ..models.order_view import OrderView

        d = dict(src_dict)
        order = OrderView.from_dict(d.pop("order"))

        payment_requires_confirmation = d.pop("payment_requires_confirmation")

        def _parse_checkout_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        checkout_url = _parse_checkout_url(d.pop("checkout_url", UNSET))

        def _parse_gateway(data: object) -> None | OrderKey | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                gateway_type_0 = OrderKey.from_dict(data)

                return gateway_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OrderKey | Unset, data)

        gateway = _parse_gateway(d.pop("gateway", UNSET))

        order_placed = cls(
            order=order,
            payment_requires_confirmation=payment_requires_confirmation,
            checkout_url=checkout_url,
            gateway=gateway,
        )

        order_placed.additional_properties = d
        return order_placed

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
