"""Entries: life times from the policy, the ETag, and the Age of an answer."""

from __future__ import annotations

from datetime import timedelta

from cachefront.cache import Cached, CachePolicy, Tier, compute_etag, make_entry
from cachefront.cache.entry import tier_rank

POLICY = CachePolicy(
    fresh_for=timedelta(minutes=5),
    stale_for=timedelta(hours=1),
    negative_for=timedelta(seconds=30),
)


def test_make_entry_takes_its_life_times_from_the_policy() -> None:
    entry = make_entry(b'{"a":1}', POLICY, now=100.0)
    assert entry.stored_at == 100.0
    assert entry.fresh_until == 400.0
    assert entry.expires_at == 400.0 + 3600.0
    assert not entry.negative


def test_negative_entries_live_for_negative_for_without_a_stale_window() -> None:
    entry = make_entry(b"gone", POLICY, now=100.0, negative=True)
    assert entry.negative
    assert entry.fresh_until == entry.expires_at == 130.0


def test_etag_is_a_quoted_strong_blake2b_of_the_value() -> None:
    entry = make_entry(b'{"a":1}', POLICY, now=0.0)
    assert entry.etag == compute_etag(b'{"a":1}')
    assert entry.etag.startswith('"')
    assert entry.etag.endswith('"')
    assert len(entry.etag) == 2 + 32
    assert compute_etag(b"x") != compute_etag(b"y")


def test_age_is_whole_seconds_since_stored_and_never_negative() -> None:
    cached = Cached(make_entry(b"{}", POLICY, now=1000.0), Tier.DB)
    assert cached.age(1000.0) == 0
    assert cached.age(1061.9) == 61
    assert cached.age(990.0) == 0  # a clock a little behind the writer's


def test_tier_rank_orders_by_cost() -> None:
    ordered = sorted(Tier, key=tier_rank)
    assert ordered == [Tier.MEMORY, Tier.REDIS, Tier.DB, Tier.STALE, Tier.UPSTREAM]
