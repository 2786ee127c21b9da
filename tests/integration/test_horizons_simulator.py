"""The Horizons simulator over real HTTP, and HorizonsProvider talking to it."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cachefront.errors import UpstreamFormatError, UpstreamStatusError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.providers import (
    HorizonsProvider,
    LocalProvider,
    build_query,
    parse_response,
)
from cachefront.simulators.horizons import RunningSimulator
from cachefront.upstream import Priority

HOUR = timedelta(hours=1)
START = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProvider]:
    provider = LocalProvider()
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def running(local: LocalProvider) -> Iterator[RunningSimulator]:
    with RunningSimulator(seed=20261123, provider=local) as simulator:
        yield simulator


@pytest.fixture
def simulator(running: RunningSimulator) -> RunningSimulator:
    """The shared simulator, with clean counters and no faults."""
    running.configure(latency_ms=0, error_rate=0.0, rate_limit_per_minute=None)
    running.reset()
    return running


class HttpxRequester:
    """The smallest HttpRequester: a plain httpx client, no retries or budget."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.priorities: list[str] = []

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        priority: Priority = "user",
    ) -> httpx.Response:
        self.priorities.append(priority)
        return await self.client.request(method, url, params=params)


@pytest.fixture
async def requester() -> AsyncIterator[HttpxRequester]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield HttpxRequester(client)


def query(body: Body = Body.MARS, hours: int = 3, **changes: str) -> dict[str, str]:
    return {**build_query(body, START, START + hours * HOUR, HOUR), **changes}


# --- the API -------------------------------------------------------------------------


def test_answer_parses_and_agrees_with_the_local_provider(
    simulator: RunningSimulator, local: LocalProvider
) -> None:
    response = httpx.get(simulator.url, params=query(Body.JUPITER, hours=24))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    envelope = response.json()
    assert envelope["signature"] == {"source": "NASA/JPL Horizons API", "version": "1.2"}
    assert "Target body name: Jupiter (599)" in envelope["result"]
    assert "Center-site name: GEOCENTRIC" in envelope["result"]

    table = parse_response(response.content, response.headers["content-type"], body=Body.JUPITER)
    assert table.version == "1.2"
    assert [row["at"] for row in table.rows] == [START + h * HOUR for h in range(25)]
    seen = local.observe(Body.JUPITER, [row["at"] for row in table.rows])
    for index, row in enumerate(table.rows):
        # The table prints 9 decimals on RA/Dec, 14 on delta and 7 on the ecliptic pair.
        assert row.get("ra_deg") == pytest.approx(seen.ra_deg[index], abs=1e-9)
        assert row.get("dec_deg") == pytest.approx(seen.dec_deg[index], abs=1e-9)
        assert row.get("delta_au") == pytest.approx(seen.distance_au[index], abs=1e-13)
        assert row.get("deldot_km_s") == pytest.approx(seen.range_rate_km_s[index], abs=1e-7)
        assert row.get("ecl_lon_deg") == pytest.approx(seen.ecl_lon_deg[index], abs=1e-7)
        assert row.get("ecl_lat_deg") == pytest.approx(seen.ecl_lat_deg[index], abs=1e-7)


@pytest.mark.parametrize(("csv", "angles"), [("YES", "HMS"), ("NO", "DEG"), ("NO", "HMS")])
def test_text_format_and_other_layouts_parse(
    simulator: RunningSimulator, local: LocalProvider, csv: str, angles: str
) -> None:
    params = query(Body.MOON, format="text", CSV_FORMAT=f"'{csv}'", ANG_FORMAT=f"'{angles}'")
    response = httpx.get(simulator.url, params=params)
    assert response.text.startswith("API VERSION: 1.2\nAPI SOURCE: NASA/JPL Horizons API\n\n")
    table = parse_response(response.content, response.headers["content-type"], body=Body.MOON)
    seen = local.observe(Body.MOON, [row["at"] for row in table.rows])
    assert len(table.rows) == 4
    for index, row in enumerate(table.rows):
        # HMS with EXTRA_PREC prints 0.0001 s of RA and 0.001" of Dec.
        assert row.get("ra_deg") == pytest.approx(seen.ra_deg[index], abs=1e-6)
        assert row.get("dec_deg") == pytest.approx(seen.dec_deg[index], abs=1e-6)
        assert row.get("ecl_lon_deg") == pytest.approx(seen.ecl_lon_deg[index], abs=1e-7)


def test_bad_date_answers_200_with_the_real_error(simulator: RunningSimulator) -> None:
    response = httpx.get(simulator.url, params=query(START_TIME="'2026-Foo-99'"))
    assert response.status_code == 200
    assert response.json() == {
        "signature": {"source": "NASA/JPL Horizons API", "version": "1.2"},
        "error": 'Cannot interpret date. Type "?!" for help.',
    }
    with pytest.raises(UpstreamFormatError, match="Cannot interpret date"):
        parse_response(response.content, response.headers["content-type"])


def test_unknown_command_has_no_table(simulator: RunningSimulator) -> None:
    response = httpx.get(simulator.url, params=query(COMMAND="'12345'"))
    assert response.status_code == 200
    with pytest.raises(UpstreamFormatError, match="unknown target"):
        parse_response(response.content, response.headers["content-type"])
    assert simulator.stats()["by_body"] == {"unknown": 1}


@pytest.mark.parametrize(
    "changes",
    [
        {"CENTER": "'500@10'"},
        {"EPHEM_TYPE": "'VECTORS'"},
        {"QUANTITIES": "'1,9'"},
        {"STEP_SIZE": "'1 fortnight'"},
        {"STOP_TIME": "'2026-11-22 00:00'"},
        {"STOP_TIME": "'2046-11-22 00:00'", "STEP_SIZE": "'1 m'"},
        {"START_TIME": "'2060-01-01 00:00'", "STOP_TIME": "'2060-01-02 00:00'"},
    ],
)
def test_requests_the_simulator_refuses_answer_an_error_member(
    simulator: RunningSimulator, changes: dict[str, str]
) -> None:
    response = httpx.get(simulator.url, params=query(**changes))
    assert response.status_code == 200
    assert "error" in response.json()


def test_unknown_parameters_and_formats_are_bad_requests(simulator: RunningSimulator) -> None:
    assert httpx.get(simulator.url, params=query(FOO="'1'")).status_code == 400
    assert httpx.get(simulator.url, params=query(format="xml")).status_code == 400


# --- faults and counters -------------------------------------------------------------


def test_error_rate_is_roughly_honoured(simulator: RunningSimulator) -> None:
    simulator.configure(error_rate=0.3)
    params = query(hours=0)
    with httpx.Client(timeout=30.0) as client:
        statuses = [client.get(simulator.url, params=params).status_code for _ in range(300)]
    failed = statuses.count(503)
    assert set(statuses) == {200, 503}
    # 300 draws at p = 0.3: 90 expected, standard deviation 7.9; allow 4 of them.
    assert 58 <= failed <= 122, f"{failed} of 300 answered 503"
    stats = simulator.stats()
    assert stats["requests"] == 300
    assert stats["by_status"] == {"200": 300 - failed, "503": failed}


def test_rate_limit_answers_429_with_retry_after(simulator: RunningSimulator) -> None:
    simulator.configure(rate_limit_per_minute=5)
    params = query(hours=0)
    with httpx.Client(timeout=30.0) as client:
        answers = [client.get(simulator.url, params=params) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    for answer in answers[5:]:
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert simulator.stats()["by_status"] == {"200": 5, "429": 2}


def test_latency_delays_every_answer(simulator: RunningSimulator) -> None:
    simulator.configure(latency_ms=150)
    began = time.perf_counter()
    assert httpx.get(simulator.url, params=query(hours=0)).status_code == 200
    assert time.perf_counter() - began >= 0.15


def test_stats_count_by_status_and_body_and_reset(simulator: RunningSimulator) -> None:
    httpx.get(simulator.url, params=query(Body.MARS, hours=2))
    httpx.get(simulator.url, params=query(Body.MARS, hours=0))
    httpx.get(simulator.url, params=query(Body.SUN, hours=0))
    stats = simulator.stats()
    assert stats["requests"] == 3
    assert stats["rows"] == 3 + 1 + 1
    assert stats["by_status"] == {"200": 3}
    assert stats["by_body"] == {"mars": 2, "sun": 1}
    assert stats["config"] == {"latency_ms": 0, "error_rate": 0.0, "rate_limit_per_minute": None}
    assert simulator.reset()["requests"] == 0


def test_a_delayed_request_counts_on_arrival_and_not_after_a_reset(
    simulator: RunningSimulator,
) -> None:
    simulator.configure(latency_ms=600)
    statuses: list[int] = []
    caller = threading.Thread(
        target=lambda: statuses.append(
            httpx.get(simulator.url, params=query(hours=0), timeout=30.0).status_code
        )
    )
    caller.start()
    time.sleep(0.3)  # the request is inside its latency
    held = simulator.stats()
    assert held["requests"] == 1
    assert held["by_status"] == {}
    simulator.reset()
    caller.join(timeout=10)
    assert statuses == [200]
    # The answer belongs to the period before the reset, so the new one stays clean.
    assert simulator.stats()["requests"] == 0
    assert simulator.stats()["by_status"] == {}


def test_config_refuses_bad_settings(simulator: RunningSimulator) -> None:
    base = simulator.base_url
    assert httpx.post(f"{base}/_config", json={"error_rate": 2}).status_code == 400
    assert httpx.post(f"{base}/_config", json={"colour": "red"}).status_code == 400
    assert httpx.post(f"{base}/_config", content=b"[1]").status_code == 400
    assert simulator.stats()["config"]["error_rate"] == 0.0


# --- HorizonsProvider against the simulator ------------------------------------------


async def test_provider_fetches_a_48_step_window_in_one_request(
    simulator: RunningSimulator, requester: HttpxRequester, local: LocalProvider
) -> None:
    provider = HorizonsProvider(requester, simulator.url)
    stop = START + 47 * HOUR
    records = await provider.positions(Body.SATURN, START, stop, HOUR, priority="background")

    stats = simulator.stats()
    assert stats["requests"] == 1
    assert stats["rows"] == 48 + 2  # one hidden neighbour each side, for the rate
    assert requester.priorities == ["background"]

    expected = local.compute(Body.SATURN, START, stop, HOUR)
    assert [r.at for r in records] == [START + h * HOUR for h in range(48)]
    for got, want in zip(records, expected, strict=True):
        assert got.provider == "horizons"
        assert got.body == "saturn"
        assert got.ra_deg == pytest.approx(want.ra_deg, abs=0.001)
        assert got.dec_deg == pytest.approx(want.dec_deg, abs=0.001)
        assert got.distance_au == pytest.approx(want.distance_au, abs=1e-9)
        assert got.ecliptic_lon_deg == pytest.approx(want.ecliptic_lon_deg, abs=0.001)
        assert got.ecliptic_lat_deg == pytest.approx(want.ecliptic_lat_deg, abs=0.001)
        assert got.speed_deg_per_day == pytest.approx(want.speed_deg_per_day, abs=0.001)
        assert got.retrograde == want.retrograde


async def test_provider_single_instant_has_a_central_rate(
    simulator: RunningSimulator, requester: HttpxRequester, local: LocalProvider
) -> None:
    provider = HorizonsProvider(requester, simulator.url)
    [record] = await provider.positions(Body.MOON, START, START, HOUR)
    [want] = local.compute(Body.MOON, START, START, HOUR)
    assert record.speed_deg_per_day == pytest.approx(want.speed_deg_per_day, abs=0.001)


async def test_provider_raises_status_error_on_503(
    simulator: RunningSimulator, requester: HttpxRequester
) -> None:
    simulator.configure(error_rate=1.0)
    provider = HorizonsProvider(requester, simulator.url)
    with pytest.raises(UpstreamStatusError) as caught:
        await provider.positions(Body.MARS, START, START + HOUR, HOUR)
    assert caught.value.status_code == 503


async def test_provider_raises_format_error_on_refusal(
    simulator: RunningSimulator, requester: HttpxRequester
) -> None:
    provider = HorizonsProvider(requester, simulator.url)
    start = datetime(2053, 12, 1, tzinfo=UTC)  # past DE421, so the simulator refuses
    with pytest.raises(UpstreamFormatError, match="DE421"):
        await provider.positions(Body.MARS, start, start + HOUR, HOUR)


def test_stopping_answers_delayed_requests_at_once(local: LocalProvider) -> None:
    statuses: list[int] = []
    simulator = RunningSimulator(latency_ms=30_000, provider=local)
    simulator.start()
    try:
        caller = threading.Thread(
            target=lambda: statuses.append(
                httpx.get(simulator.url, params=query(hours=0), timeout=60.0).status_code
            )
        )
        caller.start()
        time.sleep(0.3)  # the request is now inside its 30 s latency
    finally:
        began = time.perf_counter()
        simulator.stop()
    caller.join(timeout=10)
    assert time.perf_counter() - began < 5
    assert statuses == [503]
