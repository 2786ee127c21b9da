"""What the gate, the hot path and the routes read from and write to the wire, done once.

- **ETags**: ``etag_matches`` is the If-None-Match rule of RFC 9110 (section 13.1.2),
  on bytes: ``*``, a list, weak comparison.
- **Cache headers**: ``cache_headers`` builds ETag, Age, Cache-Control and X-Cache for
  hot-path hits and routed answers alike, from tuples built at import where it can.
- **Scope keys**: the names under which the gate leaves the request's identity and id
  in the ASGI scope for the layers inside it.

CORS is not here: ``cors.py`` is the one policy, and the gate applies it to every answer.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "IDENTITY_SCOPE_KEY",
    "REQUEST_ID_SCOPE_KEY",
    "X_CACHE_MEMORY",
    "Header",
    "cache_headers",
    "etag_matches",
    "if_none_match_of",
    "x_cache",
]

Header = tuple[bytes, bytes]

# The caller's ``Identity``, set by the gate once authenticated (``auth/dependencies.py``).
IDENTITY_SCOPE_KEY = "cachefront.identity"
# The request's id (bytes), the value of the X-Request-ID the gate answers with.
REQUEST_ID_SCOPE_KEY = "cachefront.request_id"


def if_none_match_of(headers: Iterable[Header]) -> bytes | None:
    """The If-None-Match of raw ASGI headers, its field lines joined (it is a list field)."""
    found: bytes | None = None
    for name, value in headers:
        if name == b"if-none-match":
            found = value if found is None else found + b"," + value
    return found


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """Whether If-None-Match names ``etag``: RFC 9110's weak comparison, ``*`` or a list.

    Weak comparison ignores ``W/`` on either side and compares the quoted opaque tags
    exactly (``W`` is case-sensitive). ``*`` alone matches any current representation;
    inside a list it is not valid syntax and matches nothing. Splitting on commas is
    exact for our ETags, which are hex in quotes: a comma can only sit inside some
    other tag, and a piece cut from such a tag never has quotes at both ends.
    """
    if if_none_match is None:
        return False
    if if_none_match == etag:  # the usual case, a client sending back what it was given
        return True
    if if_none_match.strip() == b"*":
        return True
    bare = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == bare for tag in if_none_match.split(b","))


# X-Cache tuples for the tiers (``cache.Tier`` values), built once; others on demand.
_X_CACHE = {
    tier: (b"x-cache", tier.encode()) for tier in ("memory", "redis", "db", "stale", "upstream")
}
X_CACHE_MEMORY: Header = _X_CACHE["memory"]


def x_cache(tier: str) -> Header:
    """The ``X-Cache`` header naming the tier that answered."""
    return _X_CACHE.get(tier) or (b"x-cache", tier.encode("latin-1"))


def cache_headers(
    etag: bytes, tier: Header, *, stored_at: float, fresh_until: float, now: float
) -> list[Header]:
    """ETag, Age, Cache-Control and X-Cache (``tier``, from ``x_cache``) of a cached answer.

    ``Age`` is the time since the datum left the upstream (not since it entered this
    tier), so a client sees the same truth whichever tier answered; ``max-age`` is what
    is left of the fresh window, so downstream caches expire it when we would.
    """
    return [
        (b"etag", etag),
        (b"age", b"%d" % max(0, int(now - stored_at))),
        (b"cache-control", b"public, max-age=%d" % max(0, int(fresh_until - now))),
        tier,
    ]
