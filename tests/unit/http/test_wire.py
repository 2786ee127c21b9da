"""The wire rules: If-None-Match and cache headers."""

from __future__ import annotations

import pytest

from cachefront.cache import Tier
from cachefront.http.wire import (
    X_CACHE_MEMORY,
    cache_headers,
    etag_matches,
    if_none_match_of,
    x_cache,
)

ETAG = b'"0123456789abcdef0123456789abcdef"'
OTHER = b'"ffffffffffffffffffffffffffffffff"'


# --- If-None-Match -------------------------------------------------------------------
@pytest.mark.parametrize(
    "if_none_match",
    [
        ETAG,
        b"W/" + ETAG,  # weak comparison: W/ on their side is ignored
        b"*",
        b"  *  ",
        OTHER + b", " + ETAG,
        OTHER + b",W/" + ETAG + b" ,",
        b" ,\t" + ETAG + b"\t, ",  # empty list members and tabs are allowed around
        b'"a,b", ' + ETAG,  # a comma inside another tag does not hide ours
    ],
)
def test_if_none_match_that_names_the_etag_matches(if_none_match: bytes) -> None:
    assert etag_matches(if_none_match, ETAG)


@pytest.mark.parametrize(
    "if_none_match",
    [
        None,
        b"",
        OTHER,
        ETAG.strip(b'"'),  # unquoted: not the same opaque tag
        b"w/" + ETAG,  # the weak prefix is case-sensitive
        ETAG[:-1] + b'x"',
        OTHER + b", *",  # "*" is only a wildcard on its own
        b'"' + ETAG + b'"',
    ],
)
def test_if_none_match_that_does_not_name_the_etag_does_not_match(
    if_none_match: bytes | None,
) -> None:
    assert not etag_matches(if_none_match, ETAG)


def test_our_own_weak_etag_compares_weakly_too() -> None:
    assert etag_matches(ETAG, b"W/" + ETAG)
    assert etag_matches(b"W/" + ETAG, b"W/" + ETAG)


def test_if_none_match_field_lines_are_one_list() -> None:
    headers = [(b"if-none-match", OTHER), (b"accept", b"*/*"), (b"if-none-match", ETAG)]
    assert if_none_match_of(headers) == OTHER + b"," + ETAG
    assert etag_matches(if_none_match_of(headers), ETAG)
    assert if_none_match_of([(b"accept", b"*/*")]) is None


# --- cache headers -------------------------------------------------------------------
def test_cache_headers_say_age_since_fetch_and_what_is_left_of_fresh() -> None:
    headers = cache_headers(ETAG, X_CACHE_MEMORY, stored_at=1000.0, fresh_until=1600.0, now=1100.9)
    assert headers == [
        (b"etag", ETAG),
        (b"age", b"100"),
        (b"cache-control", b"public, max-age=499"),
        (b"x-cache", b"memory"),
    ]


def test_cache_headers_never_go_negative() -> None:
    # A stored-at ahead of this clock (another process's) and a fresh window gone.
    headers = dict(
        cache_headers(ETAG, x_cache("stale"), stored_at=50.0, fresh_until=10.0, now=20.0)
    )
    assert headers[b"age"] == b"0"
    assert headers[b"cache-control"] == b"public, max-age=0"
    assert headers[b"x-cache"] == b"stale"


def test_x_cache_names_every_tier_and_reuses_the_built_tuples() -> None:
    for tier in Tier:
        assert x_cache(tier) == (b"x-cache", tier.value.encode())
        assert x_cache(tier) is x_cache(tier.value)
    assert x_cache(Tier.MEMORY) is X_CACHE_MEMORY
    assert x_cache("elsewhere") == (b"x-cache", b"elsewhere")
