from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.listing_page import ListingPage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    q: str | Unset = UNSET,
    sort: str | Unset = UNSET,
    seller_id: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    min_price_cents: int | Unset = UNSET,
    max_price_cents: int | Unset = UNSET,
    in_stock: bool | Unset = UNSET,
    delivery: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["q"] = q

    params["sort"] = sort

    params["seller_id"] = seller_id

    params["currency"] = currency

    params["min_price_cents"] = min_price_cents

    params["max_price_cents"] = max_price_cents

    params["in_stock"] = in_stock

    params["delivery"] = delivery

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/listings",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ErrorBody | ListingPage | None:
    if response.status_code == 200:
        response_200 = ListingPage.from_dict(response.json())

        return response_200

    if response.status_code == 304:
        response_304 = cast(Any, None)
        return response_304

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

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
) -> Response[Any | ErrorBody | ListingPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    q: str | Unset = UNSET,
    sort: str | Unset = UNSET,
    seller_id: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    min_price_cents: int | Unset = UNSET,
    max_price_cents: int | Unset = UNSET,
    in_stock: bool | Unset = UNSET,
    delivery: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[Any | ErrorBody | ListingPage]:
    """Browses active listings (served from cache, with ETag).

    Args:
        q (str | Unset):
        sort (str | Unset):
        seller_id (str | Unset):
        currency (str | Unset):
        min_price_cents (int | Unset):
        max_price_cents (int | Unset):
        in_stock (bool | Unset):
        delivery (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody | ListingPage]
    """

    kwargs = _get_kwargs(
        q=q,
        sort=sort,
        seller_id=seller_id,
        currency=currency,
        min_price_cents=min_price_cents,
        max_price_cents=max_price_cents,
        in_stock=in_stock,
        delivery=delivery,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    q: str | Unset = UNSET,
    sort: str | Unset = UNSET,
    seller_id: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    min_price_cents: int | Unset = UNSET,
    max_price_cents: int | Unset = UNSET,
    in_stock: bool | Unset = UNSET,
    delivery: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Any | ErrorBody | ListingPage | None:
    """Browses active listings (served from cache, with ETag).

    Args:
        q (str | Unset):
        sort (str | Unset):
        seller_id (str | Unset):
        currency (str | Unset):
        min_price_cents (int | Unset):
        max_price_cents (int | Unset):
        in_stock (bool | Unset):
        delivery (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody | ListingPage
    """

    return sync_detailed(
        client=client,
        q=q,
        sort=sort,
        seller_id=seller_id,
        currency=currency,
        min_price_cents=min_price_cents,
        max_price_cents=max_price_cents,
        in_stock=in_stock,
        delivery=delivery,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    q: str | Unset = UNSET,
    sort: str | Unset = UNSET,
    seller_id: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    min_price_cents: int | Unset = UNSET,
    max_price_cents: int | Unset = UNSET,
    in_stock: bool | Unset = UNSET,
    delivery: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[Any | ErrorBody | ListingPage]:
    """Browses active listings (served from cache, with ETag).

    Args:
        q (str | Unset):
        sort (str | Unset):
        seller_id (str | Unset):
        currency (str | Unset):
        min_price_cents (int | Unset):
        max_price_cents (int | Unset):
        in_stock (bool | Unset):
        delivery (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody | ListingPage]
    """

    kwargs = _get_kwargs(
        q=q,
        sort=sort,
        seller_id=seller_id,
        currency=currency,
        min_price_cents=min_price_cents,
        max_price_cents=max_price_cents,
        in_stock=in_stock,
        delivery=delivery,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    q: str | Unset = UNSET,
    sort: str | Unset = UNSET,
    seller_id: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    min_price_cents: int | Unset = UNSET,
    max_price_cents: int | Unset = UNSET,
    in_stock: bool | Unset = UNSET,
    delivery: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Any | ErrorBody | ListingPage | None:
    """Browses active listings (served from cache, with ETag).

    Args:
        q (str | Unset):
        sort (str | Unset):
        seller_id (str | Unset):
        currency (str | Unset):
        min_price_cents (int | Unset):
        max_price_cents (int | Unset):
        in_stock (bool | Unset):
        delivery (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody | ListingPage
    """

    return (
        await asyncio_detailed(
            client=client,
            q=q,
            sort=sort,
            seller_id=seller_id,
            currency=currency,
            min_price_cents=min_price_cents,
            max_price_cents=max_price_cents,
            in_stock=in_stock,
            delivery=delivery,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
