"""The simulators' synthetic prices: stable per symbol, continuous, and bars that agree."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta

from cachefront.services.prices.simulators.calendar import align, following, opens_between
from cachefront.services.prices.simulators.paths import ANCHOR, PricePath, aggregate
from cachefront.services.prices.simulators.yahoo_markets import market_of

HOLIDAYS = frozenset({"01-01", "07-04", "12-25"})


def test_a_symbol_has_the_same_path_every_time_and_symbols_differ() -> None:
    days = [date(2016, 3, 1) + timedelta(days=i) for i in range(0, 4000, 97)]
    first = [PricePath("ABCUSDT").daily(day) for day in days]
    again = [PricePath("ABCUSDT").daily(day) for day in reversed(days)][::-1]
    assert first == again
    other = [PricePath("ABDUSDT").daily(day).close for day in days]
    assert other != [bar.close for bar in first]


def test_days_chain_close_to_open_and_stay_positive_and_ordered() -> None:
    path = PricePath("XYZ")
    start = ANCHOR - timedelta(days=3000)
    bars = [path.daily(start + timedelta(days=i)) for i in range(6000)]
    for before, after in itertools.pairwise(bars):
        assert after.open == before.close
    for bar in bars:
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0


def test_steps_look_like_the_symbols_volatility() -> None:
    path = PricePath("VOLTEST")
    moves = [
        path.close_log(ANCHOR + timedelta(days=i)) - path.close_log(ANCHOR + timedelta(days=i - 1))
        for i in range(-1000, 1000)
    ]
    mean = sum(moves) / len(moves)
    spread = math.sqrt(sum((m - mean) ** 2 for m in moves) / len(moves))
    assert 0.9 * path.volatility < spread < 1.1 * path.volatility
    assert abs(mean) < 0.2 * path.volatility


def test_the_walk_has_no_jumps_where_blocks_of_days_meet() -> None:
    path = PricePath("BLOCKS")
    later_first = PricePath("BLOCKS")
    days = [ANCHOR + timedelta(days=i) for i in range(-2000, 2000)]
    # Computed from the past forwards and from the future backwards: the same walk.
    forwards = [path.close_log(day) for day in days]
    backwards = [later_first.close_log(day) for day in reversed(days)][::-1]
    assert forwards == backwards
    moves = [after - before for before, after in itertools.pairwise(forwards)]
    assert max(abs(move) for move in moves) < 6 * path.volatility


def test_hours_join_the_daily_closes_and_spot_is_continuous() -> None:
    path = PricePath("HOURS")
    day = date(2025, 5, 6)
    midnight = datetime(2025, 5, 6, tzinfo=UTC)
    hours = [path.hourly(midnight + timedelta(hours=h)) for h in range(24)]
    assert hours[0].open == path.daily(day).open
    assert hours[-1].close == path.daily(day).close
    for before, after in itertools.pairwise(hours):
        assert after.open == before.close
    moment = midnight + timedelta(hours=5)
    assert path.spot(moment) == hours[5].open
    near = path.spot(moment + timedelta(seconds=1))
    assert abs(near / path.spot(moment) - 1) < 1e-3


def test_aggregate_takes_first_open_last_close_extremes_and_total_volume() -> None:
    path = PricePath("WEEKS")
    monday = datetime(2025, 3, 3, tzinfo=UTC)
    bars = [path.daily((monday + timedelta(days=i)).date()) for i in range(7)]
    week = aggregate(monday, bars)
    assert week.open == bars[0].open
    assert week.close == bars[-1].close
    assert week.high == max(b.high for b in bars)
    assert week.low == min(b.low for b in bars)
    assert week.volume == round(sum(b.volume for b in bars), 4)


def test_bar_boundaries() -> None:
    moment = datetime(2024, 12, 31, 15, 45, tzinfo=UTC)
    assert align(moment, "hour") == datetime(2024, 12, 31, 15, tzinfo=UTC)
    assert align(moment, "week") == datetime(2024, 12, 30, tzinfo=UTC)
    assert align(moment, "month") == datetime(2024, 12, 1, tzinfo=UTC)
    assert following(datetime(2024, 12, 1, tzinfo=UTC), "month") == datetime(2025, 1, 1, tzinfo=UTC)
    months = list(opens_between(moment, datetime(2025, 3, 1, tzinfo=UTC), "month"))
    assert months == [datetime(2025, m, 1, tzinfo=UTC) for m in (1, 2, 3)]


def test_markets_stocks_keep_hours_and_crypto_never_closes() -> None:
    stock, crypto = market_of("AAPL"), market_of("BTC-USD")
    assert stock.timezone == "America/New_York"
    assert crypto.always_open
    saturday = datetime(2025, 3, 8, 16, tzinfo=UTC)
    tuesday_open = datetime(2025, 3, 11, 15, tzinfo=UTC)  # 11:00 New York
    assert not stock.is_open(saturday, HOLIDAYS)
    assert crypto.is_open(saturday, HOLIDAYS)
    assert stock.is_open(tuesday_open, HOLIDAYS)
    assert not stock.is_open(datetime(2025, 12, 25, 16, tzinfo=UTC), HOLIDAYS)
    # The last close before Saturday is Friday 16:00 New York (21:00 UTC in March, EST).
    assert stock.last_close(saturday, HOLIDAYS) == datetime(2025, 3, 7, 21, tzinfo=UTC)
    assert market_of("VOD.L").currency == "GBp"
    assert market_of("EURUSD=X").currency == "USD"
