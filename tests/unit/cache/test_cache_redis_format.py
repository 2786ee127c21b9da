"""The Redis value layout and key schemas, without a Redis server."""

from __future__ import annotations

from datetime import timedelta

from cachefront.cache import CachePolicy, make_entry
from cachefront.cache.redis_store import pack_entry, unpack_entry
from cachefront.redis_keys import cache_key, cache_key_pattern, lock_key

POLICY = CachePolicy(fresh_for=timedelta(seconds=60), stale_for=timedelta(seconds=60))


def test_pack_unpack_round_trip() -> None:
    for entry in (
        make_entry(b'{"ra": 1.5}', POLICY, now=1_700_000_000.123456),
        make_entry(b"", POLICY, now=1_700_000_000.0, negative=True),
        make_entry(bytes(range(256)) * 10, POLICY, now=1.0),
    ):
        assert unpack_entry(pack_entry(entry)) == entry


def test_header_is_compact() -> None:
    entry = make_entry(b"payload", POLICY, now=0.0)
    assert len(pack_entry(entry)) - len(b"payload") - len(entry.etag) == 27


def test_values_of_another_format_read_as_a_miss() -> None:
    data = bytearray(pack_entry(make_entry(b"x", POLICY, now=0.0)))
    data[0] = 2
    assert unpack_entry(bytes(data)) is None
    assert unpack_entry(b"") is None
    assert unpack_entry(b"\x01short") is None


def test_key_schemas_are_versioned() -> None:
    assert cache_key("cf", "eph", "mars:2024") == "cf:v1:c:eph:mars:2024"
    assert lock_key("cf", "eph", "mars:2024") == "cf:v1:lock:eph:mars:2024"


def test_scan_pattern_escapes_glob_characters() -> None:
    assert cache_key_pattern("cf", "eph") == "cf:v1:c:eph:*"
    assert cache_key_pattern("cf", "eph", "a*b?[c]") == r"cf:v1:c:eph:a\*b\?\[c\]*"
