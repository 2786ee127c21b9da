"""A background task that flushes a buffer every few seconds, and once more when stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["FlushLoop"]


class FlushLoop:
    """Calls ``flush`` every ``seconds`` from a task of its own.

    ``stop`` cancels the task only between flushes (under ``lock``, the lock ``flush``
    holds while it writes), so a write is never cut off midway, then flushes what is
    left. The metrics recorder, the cache's read log and the AI ledger share it.
    """

    def __init__(
        self,
        flush: Callable[[], Awaitable[object]],
        seconds: float,
        lock: asyncio.Lock,
        *,
        name: str,
    ) -> None:
        self._flush = flush
        self._seconds = seconds
        self._lock = lock
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start the task, if it is not running yet."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._seconds)
            await self._flush()

    async def stop(self) -> None:
        """Stop the task between two flushes, then flush once more."""
        if self._task is not None:
            async with self._lock:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush()
