"""PricesFastRoute: which requests it maps to a cache key, and which it leaves to the app."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.http.fastpath import FastPathApp
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.services.prices.fastpath import PricesFastRoute
from cachefront.services.prices.keys import LATEST_NAMESPACE

ROUTE = PricesFastRoute()
POLICY = CachePolicy(fresh_for=timedelta(minutes=1), stale_for=timedelta(days=1))


@pytest.mark.parametrize(
    ("path", "key"),
    [("/v1/prices/BTC", "BTC"), ("/v1/prices/btc", "BTC"), ("/v1/prices/EURUSD=X", "EURUSD=X")],
)
def test_a_single_price_maps_to_its_key(path: str, key: str) -> None:
    assert ROUTE.resolve(path, b"", 0.0) == (LATEST_NAMESPACE, key)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/prices/", b""),
        ("/v1/prices/BTC/history", b""),
        ("/v1/prices/BTC", b"x=1"),
        ("/v1/prices/B TC", b""),
        ("/v1/prices/" + "A" * 33, b""),
    ],
)
def test_anything_else_takes_the_full_path(path: str, query: bytes) -> None:
    assert ROUTE.resolve(path, query, 0.0) is None


async def test_a_memory_hit_is_answered_without_the_app_and_a_miss_goes_to_it() -> None:
    memory = MemoryStore()
    record = b'{"symbol":"BTC","price":1.0,"source":"binance","stale":false}'
    memory.put(LATEST_NAMESPACE, "BTC", make_entry(record, POLICY))
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    fast = FastPathApp(app, memory=memory, recorder=MetricsRecorder(None), routes=[ROUTE])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fast), base_url="http://test"
    ) as client:
        hit = await client.get("/v1/prices/btc")
        same = await client.get("/v1/prices/BTC", headers={"If-None-Match": hit.headers["etag"]})
        miss = await client.get("/v1/prices/ETH")
    assert hit.status_code == 200
    assert hit.content == record
    assert hit.headers["x-cache"] == "memory"
    assert same.status_code == 304
    assert miss.status_code == 404
    assert reached == ["/v1/prices/ETH"]
