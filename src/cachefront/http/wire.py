"""What the gate, the hot path and the routes read from and write to the wire, done once.

- **Request headers**: one pass over the raw ASGI headers picks out what the gate
  needs (``read_head``), and one rule turns them into a credential (``credential_of``).
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

from cachefront.errors import BadRequestError

__all__ = [
    "IDENTITY_SCOPE_KEY",
    "REQUEST_ID_SCOPE_KEY",
    "X_CACHE_MEMORY",
    "Header",
    "RequestHead",
    "cache_headers",
    "credential_of",
    "etag_matches",
    "if_none_match_of",
    "read_head",
    "x_cache",
]

Header = tuple[bytes, bytes]

# The caller's ``Identity``, set by the gate once authenticated (``auth/dependencies.py``).
IDENTITY_SCOPE_KEY = "cachefront.identity"
# The request's id (bytes), the value of the X-Request-ID the gate answers with.
REQUEST_ID_SCOPE_KEY = "cachefront.request_id"


class RequestHead:
    """The request headers the gate acts on, picked out of the raw ASGI list in one pass.

    Each credential header (Authorization, apikey) is kept with a note of whether it
    came again with another value; ``credential`` turns that into the credential.
    """

    __slots__ = (
        "apikey",
        "authorization",
        "conflicting",
        "content_length",
        "forwarded_for",
        "origin",
        "request_id",
    )

    def __init__(self) -> None:
        self.authorization: bytes | None = None
        self.apikey: bytes | None = None
        self.conflicting: str | None = None  # the credential header sent twice, differently
        self.request_id: bytes | None = None
        self.content_length: bytes | None = None
        self.origin: bytes | None = None
        self.forwarded_for: list[bytes] | None = None  # its field lines, when any

    def credential(self) -> str | None:
        """The bearer token, else the ``apikey`` header, else None (anonymous).

        ``Authorization`` wins over ``apikey``: Supabase clients send the project's key
        in ``apikey`` and the user's token in ``Authorization``. Another scheme than
        Bearer, or an empty token, is ``""``: a credential, and not a valid one.

        Raises ``BadRequestError`` when a credential header came twice with different
        values. RFC 9110 (section 5.3) forbids repeating a field that is not a list, and
        Authorization cannot be one (its parameters may hold commas). Picking the first
        or the last would be a guess that a proxy or another server on the way may have
        made the other way, and then the caller it authenticated is not the one we do:
        refusing leaves no doubt about who is calling. The same value twice is one
        credential, and admitted.
        """
        if self.conflicting is not None:
            raise BadRequestError(f"the {self.conflicting} header was sent twice, differently")
        if self.authorization is not None:
            scheme, _, token = self.authorization.partition(b" ")
            token = token.strip()
            return token.decode("latin-1") if scheme.lower() == b"bearer" and token else ""
        if self.apikey is not None:
            return self.apikey.strip().decode("latin-1")
        return None


def read_head(headers: Iterable[Header]) -> RequestHead:
    """The headers of ``headers`` (raw ASGI, lowercase names) the gate acts on."""
    head = RequestHead()
    for name, value in headers:
        if name == b"authorization":
            if head.authorization is None:
                head.authorization = value
            elif value != head.authorization:
                head.conflicting = "Authorization"
        elif name == b"apikey":
            if head.apikey is None:
                head.apikey = value
            elif value != head.apikey:
                head.conflicting = "apikey"
        elif name == b"x-request-id":
            head.request_id = value
        elif name == b"content-length":
            head.content_length = value
        elif name == b"origin":
            head.origin = value
        elif name == b"x-forwarded-for":
            if head.forwarded_for is None:
                head.forwarded_for = [value]
            else:
                head.forwarded_for.append(value)
    return head


def credential_of(headers: Iterable[Header]) -> str | None:
    """The credential of raw ASGI headers (see ``RequestHead.credential`` for the rule)."""
    return read_head(headers).credential()


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
_NO_MAX_AGE = b"public, max-age=0"


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
    age = int(now - stored_at)
    max_age = int(fresh_until - now)
    # Conditionals rather than max(): this runs on every hot-path hit.
    return [
        (b"etag", etag),
        (b"age", b"%d" % age if age > 0 else b"0"),
        (b"cache-control", b"public, max-age=%d" % max_age if max_age > 0 else _NO_MAX_AGE),
        tier,
    ]
