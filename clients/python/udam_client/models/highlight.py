from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Highlight")


@_attrs_define
class Highlight:
    """Highlights of one search result.

    Attributes:
        service_name (str): The service name with matched words as `<mark>…</mark>`; all other text is
            HTML-escaped (`&amp; &lt; &gt; &quot; &#39;`), so the fragment is safe to insert. Example: <mark>Weather</mark>
            API.
        snippet (str): Up to about 180 characters of the description around its first matched word,
            with `…` where it was cut; same mark syntax. Example: Hourly <mark>weather</mark> for 40,000 cities….
    """

    service_name: str
    snippet: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        service_name = self.service_name

        snippet = self.snippet

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "service_name": service_name,
                "snippet": snippet,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        service_name = d.pop("service_name")

        snippet = d.pop("snippet")

        highlight = cls(
            service_name=service_name,
            snippet=snippet,
        )

        highlight.additional_properties = d
        return highlight

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
