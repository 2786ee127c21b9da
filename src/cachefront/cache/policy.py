"""Cache policies and the pure decisions over one entry: is it fresh, stale, or gone.

Nothing here does I/O: the engine asks ``plan_reads`` what to do with what the tiers
returned for a set of keys (every read, of one key or many, goes through it; it asks
``decide(entry, now)`` of each entry), and ``usable_if_error`` whether a stale entry
may stand in for a failed upstream call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from cachefront.cache.entry import Cached, CacheEntry, Tier

__all__ = [
    "TIER_NAMES",
    "CachePolicy",
    "Decision",
    "Freshness",
    "ReadPlan",
    "classify",
    "decide",
    "plan_reads",
    "usable_if_error",
]

TIER_NAMES = frozenset({"memory", "redis", "db"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long one namespace's entries live, and which tiers keep them.

    An entry is fresh for ``fresh_for`` after it was fetched, then stale for
    ``stale_for`` (served at once while a background fetch revalidates it, and served
    in place of an upstream error), then expired. A "not found" is remembered for
    ``negative_for``, with no stale window.
    """

    fresh_for: timedelta
    stale_for: timedelta = timedelta(0)
    negative_for: timedelta = timedelta(minutes=1)
    tiers: tuple[str, ...] = ("memory", "redis", "db")

    def __post_init__(self) -> None:
        for name in ("fresh_for", "stale_for", "negative_for"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"CachePolicy.{name} must not be negative")
        unknown = set(self.tiers) - TIER_NAMES
        if unknown:
            raise ValueError(
                f"CachePolicy.tiers has unknown tiers {sorted(unknown)}; "
                f"known: {sorted(TIER_NAMES)}"
            )


class Freshness(StrEnum):
    """Where an entry stands at a given moment."""

    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"


class Decision(StrEnum):
    """What to do with the best entry the tiers returned."""

    SERVE = "serve"  # fresh: answer with it
    NOT_FOUND = "not_found"  # a fresh negative entry: answer "not found" without fetching
    SERVE_STALE = "serve_stale"  # stale: answer with it now, revalidate in the background
    FETCH = "fetch"  # absent or expired: fetch (single-flight) and answer with the result


def classify(entry: CacheEntry, now: float) -> Freshness:
    """Fresh until ``fresh_until``, stale until ``expires_at``, expired from then on."""
    if now < entry.fresh_until:
        return Freshness.FRESH
    if now < entry.expires_at:
        return Freshness.STALE
    return Freshness.EXPIRED


def decide(entry: CacheEntry | None, now: float) -> Decision:
    """The state machine of a read: serve, say not found, serve stale, or fetch."""
    if entry is None:
        return Decision.FETCH
    freshness = classify(entry, now)
    if freshness is Freshness.FRESH:
        return Decision.NOT_FOUND if entry.negative else Decision.SERVE
    if freshness is Freshness.STALE and not entry.negative:
        return Decision.SERVE_STALE
    # A stale "not found" is not worth serving: asking again is the point of expiry.
    return Decision.FETCH


def usable_if_error(entry: CacheEntry | None, now: float) -> bool:
    """Whether ``entry`` may answer in place of a failed upstream call (stale-if-error)."""
    return (
        entry is not None
        and not entry.negative
        and classify(entry, now) in (Freshness.FRESH, Freshness.STALE)
    )


@dataclass(slots=True)
class ReadPlan:
    """What to do with each key of a read, given the best entry each tier walk found.

    ``served`` are answered now (fresh, or stale with ``tier=STALE``); ``stale`` are
    those of them to revalidate in the background; ``not_found`` are remembered "not
    found" answers; ``fetch`` must be fetched, in the order asked.
    """

    served: dict[str, Cached] = field(default_factory=dict)
    stale: dict[str, CacheEntry] = field(default_factory=dict)
    not_found: dict[str, CacheEntry] = field(default_factory=dict)
    fetch: list[str] = field(default_factory=list)


def plan_reads(
    keys: Sequence[str], found: Mapping[str, tuple[CacheEntry, Tier]], now: float
) -> ReadPlan:
    """The one reading of ``decide`` for every key: serve, not found, serve stale, fetch."""
    plan = ReadPlan()
    for key in keys:
        entry, tier = found.get(key, (None, Tier.MEMORY))
        decision = decide(entry, now)
        if entry is None or decision is Decision.FETCH:
            plan.fetch.append(key)
            continue
        if decision is Decision.SERVE_STALE:
            plan.stale[key] = entry
            tier = Tier.STALE
        if decision is Decision.NOT_FOUND:
            plan.not_found[key] = entry
        else:
            plan.served[key] = Cached(entry, tier)
    return plan
