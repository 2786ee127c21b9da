"""Large provider answers are parsed off the event loop, small ones inline."""

from __future__ import annotations

import threading

from cachefront.services.prices.providers.base import OFF_LOOP_BYTES, parse_off_loop


def where(body: bytes) -> tuple[int, int]:
    return threading.get_ident(), len(body)


async def test_small_bodies_parse_on_the_loop_large_ones_in_a_thread() -> None:
    loop_thread = threading.get_ident()
    small = await parse_off_loop(where, b"x" * OFF_LOOP_BYTES)
    large = await parse_off_loop(where, b"x" * (OFF_LOOP_BYTES + 1))
    assert small == (loop_thread, OFF_LOOP_BYTES)
    assert large[0] != loop_thread
    assert large[1] == OFF_LOOP_BYTES + 1
