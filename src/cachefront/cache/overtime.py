"""Overtime: fetches that outlive a user's deadline, left to finish in the background.

A user waiting on a hung upstream should get the next provider's answer after a short
deadline, not after the upstream's full timeout. The upstream's answer is still the
better one, and the call has already cost budget, so it is not thrown away: it goes
on in the background and hands its result to a callback (which stores it in the
cache) when it ends, within its own, full, upstream deadline. A hung upstream must not
pile such calls up, so at most ``limit`` run at once per process; past that, a call
that overruns is cancelled at the deadline. Any service with a provider chain uses the
same mechanism through ``TieredCache.overtime``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from cachefront.cache.background import background_context
from cachefront.cache.keys import DEFAULT_USER_DEADLINE_SECONDS, OVERTIME_MAX_CALLS

__all__ = ["Overtime"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Overtime:
    """Waits at most ``deadline`` seconds for a call; lets up to ``limit`` overrun it."""

    def __init__(
        self,
        *,
        deadline: float = DEFAULT_USER_DEADLINE_SECONDS,
        limit: int = OVERTIME_MAX_CALLS,
    ) -> None:
        if deadline <= 0:
            raise ValueError(f"deadline must be positive, got {deadline}")
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        self.deadline = deadline
        self.limit = limit
        # Each follower (which awaits a call and hands its result on) and its call.
        self._followers: dict[asyncio.Task[None], asyncio.Future[Any]] = {}

    @property
    def running(self) -> int:
        """How many calls are in overtime now."""
        return len(self._followers)

    async def within(
        self, call: Coroutine[Any, Any, T], then: Callable[[T], Awaitable[object]]
    ) -> asyncio.Future[T] | None:
        """Run ``call``, waiting for it at most the deadline.

        Returns the call's future: done when the call ended in time (with its result or
        its error), still running when it overran, in which case it goes on in the
        background and passes its result to ``then`` when it ends. Returns None when it
        overran while ``limit`` calls were in overtime already: it was cancelled. A
        caller cancelled while waiting cancels the call too.
        """
        task = asyncio.ensure_future(call)
        try:
            await asyncio.wait((task,), timeout=self.deadline)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            return task
        if len(self._followers) >= self.limit:
            task.cancel()
            logger.warning(
                "%d calls already overran the user deadline; cancelled one more",
                len(self._followers),
                extra={"action": "cache.overtime_full", "overtime": len(self._followers)},
            )
            return None
        # The request that started the call has its answer by the time this ends: what
        # happens next is counted against no request.
        context = background_context()
        follower = asyncio.get_running_loop().create_task(self._follow(task, then), context=context)
        self._followers[follower] = task
        follower.add_done_callback(self._forget)
        return task

    def _forget(self, follower: asyncio.Task[None]) -> None:
        self._followers.pop(follower, None)

    async def _follow(
        self, task: asyncio.Future[T], then: Callable[[T], Awaitable[object]]
    ) -> None:
        try:
            result = await task
        except Exception as exc:
            logger.warning(
                "a call that overran the user deadline failed in the end: %s",
                exc,
                extra={"action": "cache.overtime_failed"},
            )
            return
        try:
            await then(result)
        except Exception:
            logger.exception(
                "the late answer of a call that overran the user deadline was lost",
                extra={"action": "cache.overtime_store_failed"},
            )

    async def aclose(self) -> None:
        """Cancel the calls still in overtime and wait for them to end."""
        followers = list(self._followers.items())
        for follower, call in followers:
            # Both: a follower cancelled before it first ran never reached its call.
            follower.cancel()
            call.cancel()
        await asyncio.gather(*(f for pair in followers for f in pair), return_exceptions=True)
