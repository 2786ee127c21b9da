"""Coalescing in one process: identical concurrent requests share one flight of payloads.

A flight runs in a task of its own, not in any request: a caller that disconnects,
leader or follower, stops reading but never cancels the call the others wait on.
Followers read every payload from the first (those already sent, then the live ones)
and all see the same ending: done, or the same ``FlightError``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["Flight", "FlightError", "Flights"]

log = logging.getLogger(__name__)


class FlightError(Exception):
    """How a flight failed, as every caller of it is answered: status and message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.code = code
        # Sent with the error (a quota's x-ratelimit-* headers).
        self.headers = headers or {}


class Flight:
    """The payloads of one answer as they arrive, and how it ended."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.done = False
        self.error: FlightError | None = None
        # Where the answer comes from, known before its first payload: "MISS" when this
        # process calls the provider, "COALESCED" when another process does, "HIT" when
        # a process found it cached after all; ``age`` goes with a hit.
        self.origin = "MISS"
        self.age: int | None = None
        self.provider_ms: float | None = None
        self.started = time.perf_counter()
        self._wake = asyncio.Event()

    def publish(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self._signal()

    def finish(self) -> None:
        self.done = True
        self._signal()

    def fail(self, error: FlightError) -> None:
        if self.done:
            return
        self.error = error
        self.done = True
        self._signal()

    def _signal(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def first(self) -> None:
        """Wait until the first payload or the ending; raises the flight's error if it
        failed before sending anything."""
        while not self.payloads and not self.done:
            await self._wake.wait()
        if not self.payloads and self.error is not None:
            raise self.error

    async def follow(self) -> AsyncIterator[bytes]:
        """Every payload from the first; raises the flight's error after the last one."""
        index = 0
        while True:
            while index < len(self.payloads):
                yield self.payloads[index]
                index += 1
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await self._wake.wait()

    async def result(self) -> list[bytes]:
        """All payloads once the flight is done; raises its error."""
        while not self.done:
            await self._wake.wait()
        if self.error is not None:
            raise self.error
        return self.payloads


Run = Callable[[Flight], Awaitable[None]]


class Flights:
    """The flights in progress in this process, by key, and the tasks running them."""

    def __init__(self) -> None:
        self._by_key: dict[str, Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._by_key)

    def joined(self, key: str) -> Flight | None:
        """The flight in progress for ``key``, or None."""
        return self._by_key.get(key)

    def start(self, key: str | None, run: Run) -> Flight:
        """A new flight running ``run``; under ``key`` others join it (None: private)."""
        flight = Flight()
        if key is not None:
            self._by_key[key] = flight
        task = asyncio.create_task(self._run(key, flight, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return flight

    async def _run(self, key: str | None, flight: Flight, run: Run) -> None:
        try:
            await run(flight)
        except FlightError as exc:
            flight.fail(exc)
        except asyncio.CancelledError:
            flight.fail(FlightError(503, "the gateway is shutting down", retry_after=5))
            raise
        except Exception:
            log.exception("ai flight failed", extra={"action": "ai.flight_failed"})
            flight.fail(FlightError(502, "the gateway could not complete the provider call"))
        finally:
            if not flight.done:
                flight.fail(FlightError(502, "the provider call ended without an answer"))
            if key is not None and self._by_key.get(key) is flight:
                del self._by_key[key]

    async def aclose(self) -> None:
        """Cancel the flights still running and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
