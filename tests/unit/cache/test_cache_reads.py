"""The read log without a database: what it keeps, what it drops, what it sends when."""

from __future__ import annotations

from datetime import timedelta

from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.cache.reads import ReadLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_namespaces_with_a_quota_are_noted() -> None:
    reads = ReadLog(["a"])
    reads.note("a", "k")
    reads.note("b", "k")
    reads.note("a", "k")
    assert reads.pending == 1


def test_a_full_log_counts_what_it_drops() -> None:
    reads = ReadLog(["a"], max_pending=2)
    for key in ("k1", "k2", "k3", "k1", "k4"):
        reads.note("a", key)
    assert reads.pending == 2
    assert reads.dropped == 2  # k3 and k4; k1 was held already


def test_a_key_is_sent_once_per_resolution_window() -> None:
    clock = Clock()
    reads = ReadLog(["a"], resolution_seconds=60, clock=clock)
    reads.note("a", "k2")
    reads.note("a", "k1")
    assert reads._due() == [("a", "k1"), ("a", "k2")]  # sorted: a stable lock order
    reads.note("a", "k1")
    clock.now += 59
    assert reads._due() == []
    assert reads.pending == 0
    reads.note("a", "k1")
    clock.now += 2
    assert reads._due() == [("a", "k1")]


async def test_without_an_engine_flush_writes_nothing() -> None:
    reads = ReadLog(["a"])
    reads.note("a", "k")
    assert await reads.flush() == 0


def test_memory_hits_are_reported_and_misses_are_not() -> None:
    policy = CachePolicy(fresh_for=timedelta(minutes=1), stale_for=timedelta(minutes=1))
    memory = MemoryStore()
    reads = ReadLog(["a"])
    memory.reads = reads
    memory.put("a", "held", make_entry(b"v", policy))
    assert memory.peek("a", "held") is not None
    assert memory.peek("a", "absent") is None
    assert reads._due() == [("a", "held")]


def test_the_sent_keys_stay_bounded() -> None:
    clock = Clock()
    reads = ReadLog(["a"], max_pending=3, resolution_seconds=3600, clock=clock)
    for batch in (("k1", "k2", "k3"), ("k4", "k5")):
        for key in batch:
            reads.note("a", key)
        reads._due()
    assert len(reads._sent) <= 3 + 2
    reads.note("a", "k1")
    # Past the bound the map was emptied: k1 goes again (the statement skips its row).
    assert reads._due() == [("a", "k1")]
