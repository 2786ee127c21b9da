"""HTTP routes of the prices service: one price, a batch, and history of one asset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cachefront.http.responses import PROBLEM_RESPONSES, cached_response
from cachefront.rooms import service_dependency
from cachefront.services.prices.routes_models import (
    BatchRequest,
    HistoryAnswer,
    PriceRecord,
    PricesAnswer,
)
from cachefront.services.prices.service import Answer, PricesService
from cachefront.services.prices.service_records import RANGES

__all__ = ["router"]

router = APIRouter(prefix="/v1/prices", tags=["prices"])

ServiceDep = Annotated[PricesService, Depends(service_dependency(PricesService))]

_RESPONSES: dict[int | str, dict[str, object]] = {
    **PROBLEM_RESPONSES,
    304: {"description": "Not modified (If-None-Match)"},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {
        "description": "Unknown symbol (problem+json naming close matches)",
        "content": {"application/problem+json": {}},
    }
}


def _respond(request: Request, answer: Answer) -> Response:
    return cached_response(
        request,
        body=answer.body,
        etag=answer.etag,
        tier=answer.tier,
        stored_at=answer.stored_at,
        fresh_until=answer.fresh_until,
    )


@router.get(
    "",
    summary="Latest prices of several symbols (cacheable by a CDN)",
    response_model=PricesAnswer,
    responses=_RESPONSES,
)
async def get_prices(
    request: Request,
    service: ServiceDep,
    symbols: Annotated[str, Query(description="Comma-separated symbols, e.g. BTC,ETH,AAPL")],
) -> Response:
    return _respond(request, await service.batch(symbols.split(",")))


@router.post(
    "/batch",
    summary="Latest prices of up to 1,000 symbols",
    response_model=PricesAnswer,
    responses=_RESPONSES,
)
async def post_batch(request: Request, service: ServiceDep, batch: BatchRequest) -> Response:
    return _respond(request, await service.batch(batch.symbols))


@router.get(
    "/{symbol}",
    summary="Latest price of one symbol",
    response_model=PriceRecord,
    responses={**_RESPONSES, **_NOT_FOUND},
)
async def get_price(symbol: str, request: Request, service: ServiceDep) -> Response:
    return _respond(request, await service.latest(symbol))


@router.get(
    "/{symbol}/history",
    summary="Candles of one symbol over a range",
    response_model=HistoryAnswer,
    responses={**_RESPONSES, **_NOT_FOUND},
)
async def get_history(
    symbol: str,
    request: Request,
    service: ServiceDep,
    range_name: Annotated[
        str, Query(alias="range", description=f"One of {', '.join(RANGES)}")
    ] = "1y",
) -> Response:
    return _respond(request, await service.history(symbol, range_name))
