"""A backfill waits out a full budget or an open breaker instead of failing the asset."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from service_fakes import FakeCandles, crypto

from cachefront.errors import BudgetExhaustedError, CircuitOpenError, UpstreamError
from cachefront.services.prices.models import Candle, LatestQuotes, Resolution
from cachefront.services.prices.service_backfill import Backfiller
from cachefront.upstream import Priority

TODAY = date(2026, 11, 30)


@dataclass
class RefusingProvider:
    """Refuses the first ``refusals`` history calls as a full budget would, then answers."""

    name: str = "binance"
    refusals: list[UpstreamError] = field(default_factory=list)
    calls: int = 0

    async def latest(self, provider_ids: object, *, priority: Priority = "user") -> LatestQuotes:
        raise AssertionError("a backfill asks for history only")

    async def history(
        self,
        provider_id: str,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        *,
        priority: Priority = "background",
    ) -> list[Candle]:
        self.calls += 1
        assert priority == "background"
        if self.refusals:
            raise self.refusals.pop(0)
        day = datetime(2026, 11, 27, tzinfo=UTC)
        return [Candle(day, 1.0, 2.0, 0.5, 1.5, 10.0)]


async def _never_unavailable(provider: str, provider_id: str) -> None:
    raise AssertionError("no asset is unknown here")


async def test_a_full_budget_and_an_open_breaker_are_waited_out() -> None:
    provider = RefusingProvider(
        refusals=[BudgetExhaustedError("binance", "no room"), CircuitOpenError("binance", "open")]
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    backfiller = Backfiller(
        FakeCandles(),
        {"binance": provider},
        mark_unavailable=_never_unavailable,
        pause=5.0,
        max_wait=60.0,
        sleep=sleep,
    )
    report = await backfiller.run([crypto("BTC")], years=1, today=TODAY)
    assert (report.assets, report.candles, report.failed) == (1, 1, {})
    assert provider.calls == 3
    assert slept == [5.0, 5.0]


async def test_past_the_longest_wait_the_asset_fails_and_the_next_one_is_tried() -> None:
    provider = RefusingProvider(refusals=[BudgetExhaustedError("binance", "no room")] * 4)

    async def sleep(seconds: float) -> None:
        return None

    backfiller = Backfiller(
        FakeCandles(),
        {"binance": provider},
        mark_unavailable=_never_unavailable,
        pause=5.0,
        max_wait=10.0,
        sleep=sleep,
    )
    report = await backfiller.run([crypto("BTC"), crypto("ETH")], years=1, today=TODAY)
    # BTC: refused, waited 5, refused, waited 10, refused: failed. ETH: refused once, then in.
    assert list(report.failed) == ["BTC"]
    assert report.assets == 1
    assert provider.calls == 5


async def test_other_upstream_errors_fail_the_asset_at_once() -> None:
    provider = RefusingProvider(refusals=[UpstreamError("binance", "HTTP 500")])
    backfiller = Backfiller(
        FakeCandles(), {"binance": provider}, mark_unavailable=_never_unavailable
    )
    report = await backfiller.run([crypto("BTC")], years=1, today=TODAY)
    assert list(report.failed) == ["BTC"]
    assert provider.calls == 1
