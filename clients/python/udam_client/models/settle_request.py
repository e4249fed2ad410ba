from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.settle_request_currency import (
    SettleRequestCurrency,
    check_settle_request_currency,
)

T = TypeVar("T", bound="SettleRequest")


@_attrs_define
class SettleRequest:
    """Body of `POST /balance/settle`.

    Attributes:
        currency (SettleRequestCurrency): The currency to settle. Example: usd.
    """

    currency: SettleRequestCurrency

    def to_dict(self) -> dict[str, Any]:
        currency: str = self.currency

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "currency": currency,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        currency = check_settle_request_currency(d.pop("currency"))

        settle_request = cls(
            currency=currency,
        )

        return settle_request
