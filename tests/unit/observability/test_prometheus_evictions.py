"""Quota evictions on /metrics: counters per namespace, read from PostgreSQL at scrape time."""

from __future__ import annotations

from cachefront.observability.prometheus import PrometheusSink, StoredFigures


def test_evictions_are_exposed_as_counters_per_namespace() -> None:
    text = (
        PrometheusSink()
        .exposition(StoredFigures({}, [("a", 5, 500)], [("a", 3, 300), ("b", 0, 0)]))
        .decode()
    )
    assert "# TYPE cachefront_cache_evictions_total counter" in text
    assert 'cachefront_cache_evictions_total{namespace="a"} 3.0' in text
    assert 'cachefront_cache_evicted_bytes_total{namespace="a"} 300.0' in text
    assert 'cachefront_cache_evictions_total{namespace="b"} 0.0' in text
