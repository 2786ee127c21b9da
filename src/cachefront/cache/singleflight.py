"""Single-flight: one fill per key at a time, within this process and across the cluster.

Within a process every key being filled has one future; later callers await it instead
of starting their own fill. The fill runs as its own task, so a caller that goes away
(a client disconnect) never cancels it for the others.

Across processes a fill first takes a lock per key. With Redis: ``SET NX PX`` with a
random token, released by a compare-and-delete script; keys locked by another process
are awaited by polling the shared tiers with growing sleeps until the value appears,
or the lock disappears and can be taken. Without Redis (or while it is away): one
PostgreSQL transaction takes the advisory lock of every key, in a fixed order, and the
fill writes its rows in that transaction, so the COMMIT both publishes them and
releases the locks. Without either (Redis absent or away, and the database away too),
single-flight holds within the process only: concurrent misses here still fetch once,
and the answer is served rather than refused. Whichever lock is taken, the tiers are
checked again before any fetch: another process may have filled the key meanwhile.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeAlias

from cachefront.cache.entry import Cached
from cachefront.cache.keys import (
    DEFAULT_LOCK_SECONDS,
    LOCK_POLL_FIRST_SECONDS,
    LOCK_POLL_MAX_SECONDS,
)
from cachefront.cache.postgres_store import DATABASE_UNREACHABLE, PostgresStore
from cachefront.cache.redis_store import RedisStore
from cachefront.cache.store import BatchStore

__all__ = ["Outcome", "Produce", "Recheck", "SingleFlight", "Work"]

Outcome: TypeAlias = Cached | Exception
"""What a fill ends with for one key: an answer, or the error to raise to its callers."""

Recheck: TypeAlias = Callable[[list[str], BatchStore | None], Awaitable[dict[str, Cached]]]
"""Look the keys up again; the fresh answers found. The store, when given, replaces the
PostgreSQL tier: it reads inside the transaction that holds the advisory locks."""

Produce: TypeAlias = Callable[[list[str], BatchStore | None], Awaitable[dict[str, Cached]]]
"""Fetch the keys and store them in every tier (PostgreSQL through the store, if given)."""

Work: TypeAlias = Callable[[list[str]], Coroutine[Any, Any, Mapping[str, Outcome]]]
"""The fill of a batch of keys, run once for all the callers waiting on them."""


def _mark_retrieved(future: asyncio.Future[Cached]) -> None:
    # A fill nobody awaits any more (callers gone, background revalidation) must not
    # log "exception was never retrieved": its errors are reported where they happen.
    if not future.cancelled():
        future.exception()


class SingleFlight:
    """In-process futures per key, plus the cluster-wide lock protocol of a fill."""

    def __init__(
        self,
        *,
        redis: RedisStore | None = None,
        db: PostgresStore | None = None,
        lock_seconds: float = DEFAULT_LOCK_SECONDS,
        poll_first: float = LOCK_POLL_FIRST_SECONDS,
        poll_max: float = LOCK_POLL_MAX_SECONDS,
    ) -> None:
        self._redis = redis
        self._db = db
        self._lock_seconds = lock_seconds
        self._poll_first = poll_first
        self._poll_max = poll_max
        self._pending: dict[tuple[str, str], asyncio.Future[Cached]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- within the process ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """How many keys are being filled now."""
        return len(self._pending)

    def run(
        self,
        ns: str,
        keys: Sequence[str],
        work: Work,
        *,
        context: contextvars.Context | None = None,
    ) -> dict[str, asyncio.Future[Cached]]:
        """A future per key: the pending fill's where one runs, else one new fill for the rest.

        The new fill runs ``work(rest)`` in a task (in ``context`` when given). Await the
        futures through ``asyncio.shield`` so that a cancelled caller leaves them alone.
        """
        futures: dict[str, asyncio.Future[Cached]] = {}
        fresh: list[str] = []
        for key in keys:
            pending = self._pending.get((ns, key))
            if pending is None:
                fresh.append(key)
            else:
                futures[key] = pending
        if fresh:
            loop = asyncio.get_running_loop()
            mine: dict[str, asyncio.Future[Cached]] = {}
            for key in fresh:
                future: asyncio.Future[Cached] = loop.create_future()
                future.add_done_callback(_mark_retrieved)
                self._pending[(ns, key)] = future
                mine[key] = future
            task = loop.create_task(self._settle(ns, mine, work(fresh)), context=context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            futures.update(mine)
        return futures

    async def _settle(
        self,
        ns: str,
        futures: dict[str, asyncio.Future[Cached]],
        fill: Coroutine[Any, Any, Mapping[str, Outcome]],
    ) -> None:
        outcomes: Mapping[str, Outcome] = {}
        failure: Exception | None = None
        try:
            outcomes = await fill
        except asyncio.CancelledError:
            self._release(ns, futures)
            for future in futures.values():
                future.cancel()
            raise
        except Exception as exc:
            failure = exc
        self._release(ns, futures)
        for key, future in futures.items():
            if future.done():
                continue
            outcome = outcomes.get(key, failure)
            if outcome is None:
                outcome = RuntimeError(f"the fill of {ns}:{key} gave no outcome for it")
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _release(self, ns: str, futures: dict[str, asyncio.Future[Cached]]) -> None:
        for key, future in futures.items():
            if self._pending.get((ns, key)) is future:
                del self._pending[(ns, key)]

    async def aclose(self) -> None:
        """Cancel the fills still running and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- across processes ---------------------------------------------------------------

    async def fill(
        self,
        ns: str,
        keys: Sequence[str],
        *,
        recheck: Recheck,
        produce: Produce,
        shared: bool,
    ) -> dict[str, Outcome]:
        """Fill ``keys`` under the cluster-wide locks; an outcome for every key.

        ``shared`` says whether the keys live in a tier other processes read (Redis or
        PostgreSQL); without one there is nothing to wait for, and no lock is taken.
        """
        outcomes: dict[str, Outcome] = {}
        left = list(keys)
        if shared and self._redis is not None and self._redis.available:
            left = await self._fill_under_redis_locks(
                self._redis, ns, left, recheck, produce, outcomes
            )
        if left and shared and self._db is not None and self._db.available:
            left = await self._fill_under_advisory_locks(
                self._db, ns, left, recheck, produce, outcomes
            )
        if left:
            await self._recheck_and_produce(left, recheck, produce, outcomes)
        return outcomes

    async def _recheck_and_produce(
        self, keys: list[str], recheck: Recheck, produce: Produce, outcomes: dict[str, Outcome]
    ) -> None:
        try:
            found = await recheck(keys, None)
            outcomes.update(found)
            todo = [key for key in keys if key not in found]
            if todo:
                outcomes.update(await produce(todo, None))
        except Exception as exc:
            # Handed to every caller waiting on these keys, who raise it.
            for key in keys:
                outcomes.setdefault(key, exc)

    async def _fill_under_redis_locks(
        self,
        redis: RedisStore,
        ns: str,
        keys: list[str],
        recheck: Recheck,
        produce: Produce,
        outcomes: dict[str, Outcome],
    ) -> list[str]:
        """Fill under Redis locks; the keys left when Redis went away meanwhile."""
        token = secrets.token_hex(16)
        left = keys
        while left:
            taken = await redis.try_lock_many(ns, left, token, self._lock_seconds)
            if taken is None:
                return left
            if taken:
                mine = [key for key in left if key in taken]
                try:
                    await self._recheck_and_produce(mine, recheck, produce, outcomes)
                finally:
                    await redis.unlock_many(ns, mine, token)
                left = [key for key in left if key not in taken]
            if left:
                left = await self._wait_for_holders(redis, ns, left, recheck, outcomes)
        return []

    async def _wait_for_holders(
        self,
        redis: RedisStore,
        ns: str,
        keys: list[str],
        recheck: Recheck,
        outcomes: dict[str, Outcome],
    ) -> list[str]:
        """Poll until other processes fill ``keys``; the keys whose lock came free unfilled."""
        delay = self._poll_first
        waiting = keys
        while waiting:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._poll_max)
            try:
                found = await recheck(waiting, None)
            except Exception as exc:
                for key in waiting:
                    outcomes[key] = exc
                return []
            outcomes.update(found)
            waiting = [key for key in waiting if key not in found]
            if not waiting:
                break
            held = await redis.held_locks(ns, waiting)
            if held is None or len(held) < len(waiting):
                # A holder finished without filling (it failed) or Redis went away:
                # the caller takes the free locks, or falls back to PostgreSQL.
                return waiting
        return []

    async def _fill_under_advisory_locks(
        self,
        db: PostgresStore,
        ns: str,
        keys: list[str],
        recheck: Recheck,
        produce: Produce,
        outcomes: dict[str, Outcome],
    ) -> list[str]:
        """Fill under advisory locks; the keys left unfilled when the database went away."""
        try:
            async with db.locked(ns, keys) as locked:
                found = await recheck(keys, locked)
                outcomes.update(found)
                todo = [key for key in keys if key not in found]
                if todo:
                    # Raising here rolls the transaction back: nothing half-written.
                    outcomes.update(await produce(todo, locked))
        except DATABASE_UNREACHABLE:
            # No lock without the database: the caller fills the rest in this process
            # alone. Answers already produced stand (only their COMMIT was lost).
            return [key for key in keys if key not in outcomes]
        except Exception as exc:
            for key in keys:
                outcomes.setdefault(key, exc)
        return []
