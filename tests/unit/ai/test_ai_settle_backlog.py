"""The settle backlog on its own: what it sends, when, and what it keeps when a send fails."""

from __future__ import annotations

import asyncio

from cachefront.services.ai.settle_backlog import SETTLE_SECONDS, SettleBacklog


class Store:
    """Takes batches; fails while ``down``; each send waits ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[dict[str, int]] = []
        self.down = False
        self.delay = delay
        self.in_flight = asyncio.Event()

    async def send(self, batch: dict[str, int]) -> None:
        self.in_flight.set()
        await asyncio.sleep(self.delay)
        if self.down:
            raise ConnectionError("store down")
        self.batches.append(dict(batch))


async def test_differences_gather_and_go_in_one_batch() -> None:
    store = Store()
    backlog: SettleBacklog[str] = SettleBacklog(store.send, store="test")
    backlog.owe("a", -5)
    backlog.owe("a", -3)
    backlog.owe("b", 2)
    backlog.owe("c", 0)  # nothing to send
    assert store.batches == []
    assert backlog.unsent("a") == -8
    await asyncio.sleep(SETTLE_SECONDS * 3)
    assert store.batches == [{"a": -8, "b": 2}]
    assert len(backlog) == 0


async def test_a_hold_takes_its_callers_difference() -> None:
    store = Store()
    backlog: SettleBacklog[str] = SettleBacklog(store.send, store="test")
    backlog.owe("a", -5)
    backlog.owe("b", -1)
    assert backlog.take("a") == -5
    assert backlog.take("a") == 0
    await backlog.aclose()
    assert store.batches == [{"b": -1}]


async def test_what_is_owed_during_a_send_goes_after_it() -> None:
    store = Store(delay=0.05)
    backlog: SettleBacklog[str] = SettleBacklog(store.send, store="test")
    backlog.owe("a", -1)
    await store.in_flight.wait()
    backlog.owe("b", -2)  # the first batch is on its way
    await asyncio.sleep(SETTLE_SECONDS * 2 + 0.15)
    assert store.batches == [{"a": -1}, {"b": -2}]


async def test_a_failed_send_keeps_everything_and_closing_waits_for_a_send_in_flight() -> None:
    store = Store(delay=0.05)
    store.down = True
    backlog: SettleBacklog[str] = SettleBacklog(store.send, store="test")
    backlog.owe("a", -4)
    await asyncio.sleep(SETTLE_SECONDS + 0.1)
    assert store.batches == []
    assert backlog.unsent("a") == -4  # kept, for the next try
    store.down = False
    backlog.owe("a", -1)
    store.in_flight.clear()
    assert await backlog.send_all()
    assert store.batches == [{"a": -5}]
    backlog.owe("b", -7)
    await asyncio.sleep(SETTLE_SECONDS + 0.01)
    await store.in_flight.wait()
    await backlog.aclose()  # the send in flight finishes rather than being cut off
    assert store.batches == [{"a": -5}, {"b": -7}]
