from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.rolled_key import RolledKey
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    grace_seconds: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["grace_seconds"] = grace_seconds

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/tokens/{id}/roll".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | RolledKey | None:
    if response.status_code == 200:
        response_200 = RolledKey.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | RolledKey]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    grace_seconds: int | Unset = UNSET,
) -> Response[ErrorBody | RolledKey]:
    """Issues a new gateway key for the token's listing (its buyer only); the old key
    keeps working for `grace_seconds`, by default not at all.

    Args:
        id (str):
        grace_seconds (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | RolledKey]
    """

    kwargs = _get_kwargs(
        id=id,
        grace_seconds=grace_seconds,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    grace_seconds: int | Unset = UNSET,
) -> ErrorBody | RolledKey | None:
    """Issues a new gateway key for the token's listing (its buyer only); the old key
    keeps working for `grace_seconds`, by default not at all.

    Args:
        id (str):
        grace_seconds (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | RolledKey
    """

    return sync_detailed(
        id=id,
        client=client,
        grace_seconds=grace_seconds,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    grace_seconds: int | Unset = UNSET,
) -> Response[ErrorBody | RolledKey]:
    """Issues a new gateway key for the token's listing (its buyer only); the old key
    keeps working for `grace_seconds`, by default not at all.

    Args:
        id (str):
        grace_seconds (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | RolledKey]
    """

    kwargs = _get_kwargs(
        id=id,
        grace_seconds=grace_seconds,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    grace_seconds: int | Unset = UNSET,
) -> ErrorBody | RolledKey | None:
    """Issues a new gateway key for the token's listing (its buyer only); the old key
    keeps working for `grace_seconds`, by default not at all.

    Args:
        id (str):
        grace_seconds (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | RolledKey
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            grace_seconds=grace_seconds,
        )
    ).parsed
