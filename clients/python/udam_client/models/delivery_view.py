from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.delivery_status import DeliveryStatus, check_delivery_status
from ..models.event_type import EventType, check_event_type
from ..types import UNSET, Unset

T = TypeVar("T", bound="DeliveryView")


@_attrs_define
class DeliveryView:
    """A delivery of one event to one endpoint, with its latest attempt.

    Attributes:
        attempts (int): Attempts made so far.
        created_at (str): RFC 3339 UTC.
        event_id (str): The event (`webhook-id`).
        event_type (EventType): What happened, as an event's `type`.
            - `order.created`: Sellers: an order of one of their listings was placed.
            - `order.fulfilled`: Sellers and buyers: an order was fulfilled (the buyer holds a grant).
            - `order.cancelled`: Sellers: the buyer cancelled a pending order.
            - `order.expired`: Sellers and buyers: a pending order's reservation lapsed unpaid.
            - `listing.sold_out`: Sellers: a listing's last unit was sold.
            - `grant.revoked`: Sellers and buyers: an access grant was revoked.
            - `settlement.paid`: Buyers: a settlement of their balance was paid.
            - `allowance.low`: Buyers: a gateway key has used 80, 90 or 100 % of the requests bought.
            - `payout.created`: Sellers: a payout of their earnings was recorded.
            - `payout.paid`: Sellers: a payout was sent by the payout provider.
            - `payout.failed`: Sellers: the payout provider refused a payout for good.
            - `payout.reversed`: Sellers: a sent payout was reversed by the payout provider.
            - `webhook.test`: A test event sent on request to one endpoint.
        id (str): `whd_…`
        status (DeliveryStatus): Where a delivery of one event to one endpoint stands.
            - `pending`: Not yet answered with a 2xx; retried until the schedule ends.
            - `succeeded`: The endpoint answered 2xx.
            - `failed`: Every scheduled attempt failed (a retry can still be asked for).
        last_error (None | str | Unset): Why the latest attempt got no answer.
        last_latency_ms (int | None | Unset): The latest attempt's latency in milliseconds.
        last_response_excerpt (None | str | Unset): The start of the latest answer's body (512 bytes at most).
        last_status_code (int | None | Unset): The latest attempt's HTTP status, if an answer came.
        next_attempt_at (None | str | Unset): When the next attempt is due (RFC 3339), while pending.
    """

    attempts: int
    created_at: str
    event_id: str
    event_type: EventType
    id: str
    status: DeliveryStatus
    last_error: None | str | Unset = UNSET
    last_latency_ms: int | None | Unset = UNSET
    last_response_excerpt: None | str | Unset = UNSET
    last_status_code: int | None | Unset = UNSET
    next_attempt_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        created_at = self.created_at

        event_id = self.event_id

        event_type: str = self.event_type

        id = self.id

        status: str = self.status

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        last_latency_ms: int | None | Unset
        if isinstance(self.last_latency_ms, Unset):
            last_latency_ms = UNSET
        else:
            last_latency_ms = self.last_latency_ms

        last_response_excerpt: None | str | Unset
        if isinstance(self.last_response_excerpt, Unset):
            last_response_excerpt = UNSET
        else:
            last_response_excerpt = self.last_response_excerpt

        last_status_code: int | None | Unset
        if isinstance(self.last_status_code, Unset):
            last_status_code = UNSET
        else:
            last_status_code = self.last_status_code

        next_attempt_at: None | str | Unset
        if isinstance(self.next_attempt_at, Unset):
            next_attempt_at = UNSET
        else:
            next_attempt_at = self.next_attempt_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "created_at": created_at,
                "event_id": event_id,
                "event_type": event_type,
                "id": id,
                "status": status,
            }
        )
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if last_latency_ms is not UNSET:
            field_dict["last_latency_ms"] = last_latency_ms
        if last_response_excerpt is not UNSET:
            field_dict["last_response_excerpt"] = last_response_excerpt
        if last_status_code is not UNSET:
            field_dict["last_status_code"] = last_status_code
        if next_attempt_at is not UNSET:
            field_dict["next_attempt_at"] = next_attempt_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        attempts = d.pop("attempts")

        created_at = d.pop("created_at")

        event_id = d.pop("event_id")

        event_type = check_event_type(d.pop("event_type"))

        id = d.pop("id")

        status = check_delivery_status(d.pop("status"))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        def _parse_last_latency_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        last_latency_ms = _parse_last_latency_ms(d.pop("last_latency_ms", UNSET))

        def _parse_last_response_excerpt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_response_excerpt = _parse_last_response_excerpt(
            d.pop("last_response_excerpt", UNSET)
        )

        def _parse_last_status_code(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        last_status_code = _parse_last_status_code(d.pop("last_status_code", UNSET))

        def _parse_next_attempt_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_attempt_at = _parse_next_attempt_at(d.pop("next_attempt_at", UNSET))

        delivery_view = cls(
            attempts=attempts,
            created_at=created_at,
            event_id=event_id,
            event_type=event_type,
            id=id,
            status=status,
            last_error=last_error,
            last_latency_ms=last_latency_ms,
            last_response_excerpt=last_response_excerpt,
            last_status_code=last_status_code,
            next_attempt_at=next_attempt_at,
        )

        delivery_view.additional_properties = d
        return delivery_view

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
