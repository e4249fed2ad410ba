from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.event_outcome import EventOutcome, check_event_outcome

T = TypeVar("T", bound="Received")


@_attrs_define
class Received:
    """Acknowledgement.

    Attributes:
        outcome (EventOutcome): What a payment event (webhook, sweeper check, dev checkout button) did.
            - `fulfilled`: A pending order was paid and fulfilled.
            - `settled`: A settlement was paid; the orders it covers are paid.
            - `refunded`: A payment arrived for units already gone; it was refunded.
            - `revoked`: A charge refunded in full revoked its order's tokens and returned its units.
            - `partially_refunded`: Part of a charge was refunded; the order keeps its tokens.
            - `settlement_refunded`: A settlement's payment was refunded; the orders it paid are owed again.
            - `mismatched`: The event does not match the checkout on record (session, amount or currency); it was stored
            with its reason and changed nothing.
            - `released`: A lapsed checkout released what it reserved.
            - `duplicate`: Already applied before; nothing changed.
            - `unknown_order`: The event names no order this server knows.
            - `awaiting_async_payment`: Completed, but the payment is still on its way (delayed methods).
            - `processing`: The checkout is still processing at the provider.
            - `account_updated`: A seller's connected account state was brought up to date (Connect).
            - `payout_reversed`: Part or all of a payout's transfer was reversed; the amount is owed to the seller again.
            - `ignored`: An event this server does not act on (or older than what it applied).
        received (bool): Always true.
    """

    outcome: EventOutcome
    received: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        outcome: str = self.outcome

        received = self.received

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "outcome": outcome,
                "received": received,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        outcome = check_event_outcome(d.pop("outcome"))

        received = d.pop("received")

        received = cls(
            outcome=outcome,
            received=received,
        )

        received.additional_properties = d
        return received

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
