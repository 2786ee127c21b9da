"""The pure read decisions: freshness, what to do with an entry, stale-if-error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cachefront.cache import CachePolicy, Decision, Freshness, classify, decide, make_entry
from cachefront.cache.entry import Cached, CacheEntry, Tier
from cachefront.cache.policy import plan_reads, usable_if_error

POLICY = CachePolicy(fresh_for=timedelta(seconds=10), stale_for=timedelta(seconds=20))
T0 = 1_000_000.0


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0.0, Freshness.FRESH),
        (9.999, Freshness.FRESH),
        (10.0, Freshness.STALE),
        (29.999, Freshness.STALE),
        (30.0, Freshness.EXPIRED),
        (1e6, Freshness.EXPIRED),
    ],
)
def test_classify_walks_fresh_stale_expired(elapsed: float, expected: Freshness) -> None:
    entry = make_entry(b"{}", POLICY, now=T0)
    assert classify(entry, T0 + elapsed) is expected


def test_decide_on_positive_entries() -> None:
    entry = make_entry(b"{}", POLICY, now=T0)
    assert decide(None, T0) is Decision.FETCH
    assert decide(entry, T0 + 1) is Decision.SERVE
    assert decide(entry, T0 + 15) is Decision.SERVE_STALE
    assert decide(entry, T0 + 31) is Decision.FETCH


def test_decide_on_negative_entries() -> None:
    policy = CachePolicy(fresh_for=timedelta(hours=1), negative_for=timedelta(seconds=5))
    entry = make_entry(b"no such body", policy, now=T0, negative=True)
    assert decide(entry, T0 + 4) is Decision.NOT_FOUND
    assert decide(entry, T0 + 5) is Decision.FETCH


def test_a_stale_not_found_is_fetched_again_not_served() -> None:
    entry = make_entry(b"", POLICY, now=T0, negative=True)
    stale_negative = type(entry)(
        value=b"",
        etag=entry.etag,
        stored_at=T0,
        fresh_until=T0 + 1,
        expires_at=T0 + 100,
        negative=True,
    )
    assert decide(stale_negative, T0 + 50) is Decision.FETCH


def test_usable_if_error_only_within_the_stale_window() -> None:
    entry = make_entry(b"{}", POLICY, now=T0)
    assert usable_if_error(entry, T0 + 15)
    assert not usable_if_error(entry, T0 + 30)
    assert not usable_if_error(None, T0)
    assert not usable_if_error(make_entry(b"", POLICY, now=T0, negative=True), T0)


def test_policy_rejects_unknown_tiers_and_negative_durations() -> None:
    with pytest.raises(ValueError, match="unknown tiers"):
        CachePolicy(fresh_for=timedelta(1), tiers=("memory", "disk"))
    with pytest.raises(ValueError, match="stale_for"):
        CachePolicy(fresh_for=timedelta(1), stale_for=timedelta(seconds=-1))


def _found(**entries: tuple[CacheEntry, Tier]) -> dict[str, tuple[CacheEntry, Tier]]:
    return dict(entries)


def test_plan_reads_sorts_every_key_by_its_decision() -> None:
    fresh = make_entry(b"1", POLICY, now=T0)
    old = make_entry(b"2", POLICY, now=T0 - 15)  # stale at T0
    gone = make_entry(b"3", POLICY, now=T0 - 31)  # expired at T0
    negative = make_entry(b"no such body", POLICY, now=T0, negative=True)
    found = _found(
        a=(fresh, Tier.REDIS), b=(old, Tier.MEMORY), c=(gone, Tier.DB), d=(negative, Tier.DB)
    )
    plan = plan_reads(["a", "b", "c", "d", "e"], found, T0)
    assert plan.served == {"a": Cached(fresh, Tier.REDIS), "b": Cached(old, Tier.STALE)}
    assert plan.stale == {"b": old}
    assert plan.not_found == {"d": negative}
    assert plan.fetch == ["c", "e"]


def test_plan_reads_of_nothing_found_fetches_all_in_order() -> None:
    plan = plan_reads(["z", "y", "x"], {}, T0)
    assert plan.fetch == ["z", "y", "x"]
    assert plan.served == plan.stale == plan.not_found == {}


def test_a_stale_negative_entry_is_fetched_again() -> None:
    negative = make_entry(b"", POLICY, now=T0 - 61, negative=True)
    plan = plan_reads(["a"], _found(a=(negative, Tier.MEMORY)), T0)
    assert plan.fetch == ["a"]
    assert plan.not_found == {}
