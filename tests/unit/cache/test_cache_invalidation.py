"""Invalidation messages: their form, what a listener drops, and NOTIFY-sized chunks."""

from __future__ import annotations

import time

from cachefront.cache.entry import CacheEntry
from cachefront.cache.invalidation import Invalidation, apply_invalidation, new_origin
from cachefront.cache.invalidation_postgres import _PAYLOAD_MAX, _chunks
from cachefront.cache.memory import MemoryStore
from cachefront.redis_keys import invalidation_channel


def _entry() -> CacheEntry:
    now = time.time()
    return CacheEntry(b"v", etag="e", stored_at=now, fresh_until=now + 60, expires_at=now + 60)


def _memory(*slots: tuple[str, str]) -> MemoryStore:
    memory = MemoryStore()
    for ns, key in slots:
        memory.put(ns, key, _entry())
    return memory


def test_a_message_reads_back_as_sent() -> None:
    for message in (
        Invalidation("p1", "prices", ("AAPL", "MSFT")),
        Invalidation("p1", "prices", prefix="A"),
        Invalidation("p1", "prices", prefix=""),
    ):
        assert Invalidation.decode(message.encode()) == message


def test_messages_not_of_the_form_are_ignored() -> None:
    for data in (
        b"",
        b"[]",
        b'{"o": "p"}',
        b'{"o": 1, "n": "x", "k": []}',
        b'{"o": "p", "n": "x", "k": [1]}',
    ):
        assert Invalidation.decode(data) is None


def test_a_listener_drops_the_named_keys_and_prefixes_of_others_only() -> None:
    memory = _memory(("prices", "AAPL"), ("prices", "AMZN"), ("prices", "MSFT"), ("other", "AAPL"))
    assert apply_invalidation(memory, Invalidation("me", "prices", ("AAPL",)), "me") == 0
    assert memory.peek("prices", "AAPL") is not None
    assert apply_invalidation(memory, Invalidation("you", "prices", ("AAPL", "nope")), "me") == 1
    assert memory.peek("prices", "AAPL") is None
    assert memory.peek("other", "AAPL") is not None
    assert apply_invalidation(memory, Invalidation("you", "prices", prefix="A"), "me") == 1
    assert memory.peek("prices", "MSFT") is not None
    assert apply_invalidation(memory, Invalidation("you", "prices", prefix=""), "me") == 1
    assert len(memory) == 1


def test_origins_differ_between_announcers() -> None:
    assert new_origin() != new_origin()


def test_many_keys_go_out_in_notifications_within_the_server_limit() -> None:
    keys = [f"key-{i:05d}-{'x' * 40}" for i in range(1000)]
    payloads = _chunks("origin", "ns", keys)
    assert len(payloads) > 1
    assert all(len(p) <= _PAYLOAD_MAX for p in payloads)
    decoded = [Invalidation.decode(p) for p in payloads]
    assert [key for m in decoded if m is not None for key in m.keys] == keys


def test_a_key_too_long_for_one_notification_drops_the_namespace() -> None:
    (payload,) = _chunks("origin", "ns", ["k" * (_PAYLOAD_MAX + 1)])
    assert Invalidation.decode(payload) == Invalidation("origin", "ns", prefix="")


def test_the_redis_channel_is_pinned() -> None:
    assert invalidation_channel("cf") == "cf:v1:invalidate"
