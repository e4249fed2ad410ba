from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_code import ErrorCode, check_error_code
from ..types import UNSET, Unset

T = TypeVar("T", bound="ErrorDetail")


@_attrs_define
class ErrorDetail:
    """What went wrong, for a program (`code`) and for a person (`message`).

    Attributes:
        code (ErrorCode): Every error code the API answers with, in `error.code` of the envelope.
            - `validation_failed`: A body, query or path value is invalid; `field` names it.
            - `bad_request`: The request could not be understood.
            - `malformed_json`: The body is not valid JSON.
            - `unsupported_media_type`: The body is not sent as `application/json`.
            - `payload_too_large`: The body is larger than the route accepts.
            - `headers_too_large`: The request headers are too large.
            - `unauthorized`: No valid session: sign in first.
            - `forbidden`: Signed in, but not allowed to do this.
            - `not_found`: No such resource (or route).
            - `method_not_allowed`: The route does not accept that HTTP method.
            - `request_timeout`: The request took too long to arrive.
            - `rate_limited`: Too many requests; see `Retry-After`.
            - `unavailable`: The service is busy, unavailable or took too long; try again.
            - `outcome_unknown`: The server could not confirm whether the request took effect (a commit went unanswered);
            retry with the same `Idempotency-Key` to learn its outcome.
            - `internal_error`: Something failed on the server's side; details are only logged.
            - `error`: Any other failed request (a status without a more specific code).
            - `email_taken`: The email address already has an account.
            - `invalid_credentials`: Wrong email or password.
            - `listing_archived`: The listing is archived and can no longer change or sell.
            - `listing_unavailable`: The listing is not for sale (paused or archived).
            - `insufficient_units`: Fewer units are left than the order asks for.
            - `own_listing`: Sellers cannot buy their own listings.
            - `listing_changed`: The listing changed (price or stock) while buying; retry.
            - `order_not_pending`: The order is no longer pending payment.
            - `idempotency_key_reuse`: The `Idempotency-Key` was used with a different request.
            - `idempotency_in_progress`: A request with this `Idempotency-Key` is still being processed; retry shortly.
            - `payment_provider_unavailable`: The payment provider did not answer; nothing was charged.
            - `nothing_owed`: Nothing is owed in that currency.
            - `invalid_signature`: The webhook's signature does not verify.
            - `malformed_event`: The webhook's body is not a Stripe event.
            - `csrf_failed`: A web form's CSRF token is missing or wrong.
            - `bad_form`: A web form could not be read.
            - `bad_query`: A web page's query could not be read.
            - `gateway_key_invalid`: The gateway key is missing, malformed, unknown, revoked, or for another listing.
            - `allowance_exhausted`: The gateway key's requests are used up; buy more units of the listing.
            - `upstream_unavailable`: The gateway could not reach the listing's upstream; the request was not counted.
            - `upstream_timeout`: The listing's upstream did not answer in time; the request was not counted.
            - `upstream_forbidden`: The listing's upstream resolves to an address the gateway may not reach.
            - `not_gateway_delivery`: The operation needs a listing with gateway delivery.
        message (str): Human-readable explanation.
        field (None | str | Unset): The offending field, for validation errors.
    """

    code: ErrorCode
    message: str
    field: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code: str = self.code

        message = self.message

        field: None | str | Unset
        if isinstance(self.field, Unset):
            field = UNSET
        else:
            field = self.field

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "message": message,
            }
        )
        if field is not UNSET:
            field_dict["field"] = field

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        code = check_error_code(d.pop("code"))

        message = d.pop("message")

        def _parse_field(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        field = _parse_field(d.pop("field", UNSET))

        error_detail = cls(
            code=code,
            message=message,
            field=field,
        )

        error_detail.additional_properties = d
        return error_detail

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
