"""The prices room as the platform reads it: upstreams, routes, groups, jobs, tables, CLI."""

from __future__ import annotations

import pytest

from cachefront.config import Settings
from cachefront.errors import InvalidInputError
from cachefront.jobs.registry import JobRegistry
from cachefront.ratelimit import route_group
from cachefront.services import ROOMS
from cachefront.services.prices.room import ROOM
from cachefront.services.prices.tasks import (
    BACKFILL_JOB,
    PARTITIONS_TASK,
    REFRESH_TASK,
    RETENTION_TASK,
    refresh_schedule,
)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_room_is_in_the_list() -> None:
    assert ROOM in ROOMS
    assert ROOM.name == "prices"


def test_upstreams_follow_the_configured_providers_with_binance_signals() -> None:
    both = {spec.name: spec for spec in ROOM.upstreams(_settings())}
    assert set(both) == {"binance", "yahoo"}
    assert both["binance"].budget == "3000/minute"
    assert both["binance"].used_header == "X-MBX-USED-WEIGHT-1m"
    assert both["binance"].published_limit == 6000
    assert both["binance"].hold_statuses == frozenset({418, 429})
    assert both["yahoo"].hold_statuses == frozenset({429})
    only = ROOM.upstreams(_settings(prices_providers=["yahoo"]))
    assert [spec.name for spec in only] == ["yahoo"]
    moved = {s.name: s for s in ROOM.upstreams(_settings(binance_published_weight=1200))}
    assert moved["binance"].published_limit == 1200


def test_reads_count_in_the_upstream_group() -> None:
    assert route_group("GET", "/v1/prices/BTC") == "upstream"
    assert route_group("POST", "/v1/prices/batch") == "upstream"


def test_jobs_and_the_refresh_schedule() -> None:
    registry = JobRegistry()
    ROOM.register_jobs(registry, _settings(prices_refresh_seconds=30))
    assert list(registry.job_types) == [BACKFILL_JOB]
    assert list(registry.periodic) == [REFRESH_TASK, PARTITIONS_TASK, RETENTION_TASK]
    assert registry.periodic[REFRESH_TASK].schedule == "* * * * * */30"
    assert refresh_schedule(60) == "* * * * *"
    assert refresh_schedule(300) == "*/5 * * * *"
    assert refresh_schedule(7) == "* * * * * */10"
    # Past an hour the minute field cannot count: hours do.
    assert refresh_schedule(3600) == "0 * * * *"
    assert refresh_schedule(4 * 3600) == "0 */4 * * *"
    assert refresh_schedule(2 * 86400) == "0 0 * * *"


def test_backfill_params_are_validated_naming_the_field() -> None:
    registry = JobRegistry()
    ROOM.register_jobs(registry, _settings())
    with pytest.raises(InvalidInputError) as caught:
        registry.validate(BACKFILL_JOB, {"years": 0}, _settings())
    assert caught.value.field == "params.years"
    params = registry.validate(BACKFILL_JOB, {"symbols": ["BTC"]}, _settings())
    assert params.model_dump() == {"years": 10, "symbols": ["BTC"]}


def test_tables_fast_routes_and_commands() -> None:
    assert {t.name for t in ROOM.tables} == {
        "price_assets",
        "price_daily",
        "price_weekly",
        "price_monthly",
    }
    assert [r.template for r in ROOM.fast_routes(_settings())] == ["/v1/prices/{symbol}"]
    assert ROOM.cli.commands is not None
    assert ROOM.cli.simulators is not None
    names = {group.name for group in ROOM.cli.commands.registered_groups}
    assert names == {"assets", "prices"}
