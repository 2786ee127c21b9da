"""Pins the public surface of cachefront.cache, so a change to it is a decision."""

from __future__ import annotations

import cachefront.cache


def test_exported_names() -> None:
    assert set(cachefront.cache.__all__) == {
        "BatchStore",
        "CacheEntry",
        "CachePolicy",
        "Cached",
        "Decision",
        "EntryStore",
        "Fetch",
        "FetchMany",
        "Fetched",
        "Freshness",
        "MemoryStore",
        "Overtime",
        "PostgresStore",
        "RedisStore",
        "SingleFlight",
        "Tier",
        "TieredCache",
        "build_cache",
        "classify",
        "compute_etag",
        "decide",
        "make_entry",
    }
    assert len(set(cachefront.cache.__all__)) == len(cachefront.cache.__all__)


def test_every_exported_name_exists() -> None:
    for name in cachefront.cache.__all__:
        assert hasattr(cachefront.cache, name), name
