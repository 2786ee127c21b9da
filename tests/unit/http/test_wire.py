"""The wire rules: which credential a request carries, If-None-Match, and cache headers."""

from __future__ import annotations

import pytest

from cachefront.cache import Tier
from cachefront.errors import BadRequestError
from cachefront.http.wire import (
    X_CACHE_MEMORY,
    cache_headers,
    credential_of,
    etag_matches,
    if_none_match_of,
    read_head,
    x_cache,
)

ETAG = b'"0123456789abcdef0123456789abcdef"'
OTHER = b'"ffffffffffffffffffffffffffffffff"'


# --- credentials ---------------------------------------------------------------------
def test_bearer_token_wins_over_apikey_in_either_order() -> None:
    both = [(b"apikey", b"project-key"), (b"authorization", b"Bearer user-token")]
    assert credential_of(both) == "user-token"
    assert credential_of(list(reversed(both))) == "user-token"


def test_apikey_alone_is_the_credential_and_none_is_anonymous() -> None:
    assert credential_of([(b"apikey", b" k1 ")]) == "k1"
    assert credential_of([(b"accept", b"*/*")]) is None
    assert credential_of([]) is None


@pytest.mark.parametrize("value", [b"Basic abc", b"Bearer", b"Bearer   ", b"Token x"])
def test_other_schemes_and_empty_bearers_are_a_credential_that_is_not_valid(value: bytes) -> None:
    assert credential_of([(b"authorization", value)]) == ""


def test_scheme_is_case_insensitive_and_token_trimmed() -> None:
    assert credential_of([(b"authorization", b"bEaReR  t1 ")]) == "t1"


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer first"), (b"authorization", b"Bearer second")],
        [(b"authorization", b"Bearer second"), (b"authorization", b"Bearer first")],
        [(b"authorization", b"Bearer t"), (b"authorization", b"Basic t")],
        [(b"apikey", b"k1"), (b"apikey", b"k2")],
        # Authorization would win over the apikeys, but the request is still ambiguous.
        [(b"authorization", b"Bearer t"), (b"apikey", b"k1"), (b"apikey", b"k2")],
    ],
)
def test_a_credential_header_sent_twice_differently_is_refused(
    headers: list[tuple[bytes, bytes]],
) -> None:
    with pytest.raises(BadRequestError, match="sent twice"):
        credential_of(headers)


def test_the_same_credential_sent_twice_is_one_credential() -> None:
    twice = [(b"authorization", b"Bearer t1"), (b"x-other", b"1"), (b"authorization", b"Bearer t1")]
    assert credential_of(twice) == "t1"
    assert credential_of([(b"apikey", b"k1"), (b"apikey", b"k1")]) == "k1"


def test_read_head_picks_out_what_the_gate_acts_on() -> None:
    head = read_head(
        [
            (b"x-request-id", b"abc"),
            (b"content-length", b"12"),
            (b"origin", b"https://app.example"),
            (b"x-forwarded-for", b"192.0.2.1"),
            (b"x-forwarded-for", b"192.0.2.2, 10.0.0.1"),
            (b"apikey", b"k1"),
        ]
    )
    assert head.request_id == b"abc"
    assert head.content_length == b"12"
    assert head.origin == b"https://app.example"
    assert head.forwarded_for == [b"192.0.2.1", b"192.0.2.2, 10.0.0.1"]
    assert head.credential() == "k1"


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
