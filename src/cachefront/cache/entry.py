"""What the cache holds (``CacheEntry``) and what it answers with (``Cached``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from hashlib import blake2b
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachefront.cache.policy import CachePolicy

__all__ = ["CacheEntry", "Cached", "Tier", "compute_etag", "make_entry", "tier_rank"]


class Tier(StrEnum):
    """Which tier answered; the values are what ``X-Cache`` and the metrics show."""

    MEMORY = "memory"
    REDIS = "redis"
    DB = "db"
    UPSTREAM = "upstream"
    STALE = "stale"


# From cheapest to dearest: a batch answer reports its dearest part.
_RANK = {Tier.MEMORY: 0, Tier.REDIS: 1, Tier.DB: 2, Tier.STALE: 3, Tier.UPSTREAM: 4}


def tier_rank(tier: Tier) -> int:
    """Order of cost: memory < redis < db < stale < upstream."""
    return _RANK[tier]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached answer: serialized payload, its strong ETag and its life times.

    All times are epoch seconds. ``stored_at`` is when the upstream answered, and stays
    the same as the entry moves between tiers, so ``Age`` is truthful everywhere.
    """

    value: bytes
    etag: str
    stored_at: float
    fresh_until: float
    expires_at: float
    negative: bool = False


def compute_etag(value: bytes) -> str:
    """A strong, quoted ETag of ``value``: 16 bytes of BLAKE2b, in hex."""
    return f'"{blake2b(value, digest_size=16).hexdigest()}"'


def make_entry(
    value: bytes, policy: CachePolicy, *, now: float | None = None, negative: bool = False
) -> CacheEntry:
    """An entry for ``value`` fetched at ``now``, with life times from ``policy``.

    A negative entry (a remembered "not found") is fresh for ``policy.negative_for`` and
    has no stale window; its value is the detail of the "not found", or empty.
    """
    stored_at = time.time() if now is None else now
    if negative:
        fresh_until = expires_at = stored_at + policy.negative_for.total_seconds()
    else:
        fresh_until = stored_at + policy.fresh_for.total_seconds()
        expires_at = fresh_until + policy.stale_for.total_seconds()
    return CacheEntry(
        value=value,
        etag=compute_etag(value),
        stored_at=stored_at,
        fresh_until=fresh_until,
        expires_at=expires_at,
        negative=negative,
    )


@dataclass(frozen=True, slots=True)
class Cached:
    """An answer of the cache: the entry and the tier it came from."""

    entry: CacheEntry
    tier: Tier

    def age(self, now: float | None = None) -> int:
        """Whole seconds since the upstream answered (the ``Age`` header), never negative."""
        elapsed = (time.time() if now is None else now) - self.entry.stored_at
        return max(0, int(elapsed))
