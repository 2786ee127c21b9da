"""Waiting out a minute's end: a test of per-minute counts must not straddle one."""

from __future__ import annotations

import asyncio
import time

__all__ = ["away_from_a_minute_edge"]


async def away_from_a_minute_edge(seconds: float) -> None:
    """Return when the next ``seconds`` stay within one minute, sleeping past its end if
    need be. A run that straddles a minute would see the previous minute's counts weigh
    on the next (or start again from zero): correct, but it makes the outcome of one run
    depend on the clock."""
    into = time.time() % 60
    if into > 60 - seconds:
        await asyncio.sleep(60 - into + 0.2)
