"""HTTP caching headers (X-Cache, Age, ETag, Cache-Control) derived from a cache entry."""

from __future__ import annotations

__all__ = ["cache_headers", "etag_matches"]


def cache_headers(
    *, etag: str, tier: str, stored_at: float, fresh_until: float, now: float
) -> dict[str, str]:
    """Headers telling the client where the answer came from and how long it may keep it.

    ``Age`` is the time since the datum left the upstream (not since it entered this
    tier), so a client sees the same truth whichever tier answered; ``max-age`` is what
    is left of the fresh window, so downstream caches expire it when we would.
    """
    age = max(0, int(now - stored_at))
    max_age = max(0, int(fresh_until - now))
    return {
        "ETag": etag,
        "Age": str(age),
        "Cache-Control": f"public, max-age={max_age}",
        "X-Cache": tier,
    }


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our strong ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == bare for candidate in if_none_match.split(",")
    )
