"""CACHEFRONT_CACHE_QUOTAS: sizes as written, and what a quota switches on."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cachefront import composition
from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.jobs.schedule import default_registry


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sizes_are_read_in_decimal_and_binary_units_or_plain_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "CACHEFRONT_CACHE_QUOTAS", '{"a": "200MB", "b": "1.5 GiB", "c": 4096, "d": "10kb"}'
    )
    quotas = {ns: int(size) for ns, size in Settings(_env_file=None).cache_quotas.items()}  # type: ignore[call-arg]
    assert quotas == {"a": 200_000_000, "b": 1_610_612_736, "c": 4096, "d": 10_000}


def test_a_size_that_is_not_one_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEFRONT_CACHE_QUOTAS", '{"a": "lots"}')
    with pytest.raises(ConfigurationError, match="CACHEFRONT_CACHE_QUOTAS"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_eviction_is_scheduled_only_with_quotas() -> None:
    assert "evict-over-quota" not in default_registry(_settings()).periodic
    task = default_registry(_settings(cache_quotas={"a": "1MB"})).periodic["evict-over-quota"]
    assert task.schedule == "*/5 * * * *"


async def test_reads_are_tracked_only_for_namespaces_with_a_quota() -> None:
    engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        memory = composition.memory_from(_settings())
        plain = composition.cache_from(_settings(memory_cache_sync=False), engine, memory=memory)
        assert plain.reads is None
        assert memory.reads is None
        settings = _settings(memory_cache_sync=False, cache_quotas={"a": "1MB"})
        tracked = composition.cache_from(settings, engine, memory=memory)
        assert tracked.reads is not None
        assert tracked.reads.namespaces == frozenset({"a"})
        assert memory.reads is tracked.reads
    finally:
        await engine.dispose()
