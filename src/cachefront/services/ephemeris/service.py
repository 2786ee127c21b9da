"""Ephemeris domain logic: positions on the time grid, read through the tiered cache.

A single position is looked up by its own key; on a miss the whole aligned chunk of
grid steps around it is fetched in one provider call (range batching) and stored, so
the neighbouring hours a client asks for next are already there. Providers are tried
in the configured order: when Horizons fails or its breaker is open, the local
ephemeris answers. A user does not wait on Horizons past the user deadline
(``cache.overtime``): the local ephemeris answers then, and Horizons' answer, when it
comes, replaces it in the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachefront.cache import Cached, CachePolicy, Fetched, Tier, TieredCache
from cachefront.cache.entry import tier_rank
from cachefront.errors import (
    InvalidInputError,
    RangeTooLargeError,
    UpstreamError,
    UpstreamTimeoutError,
)
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.coverage import Coverage, coverage_of
from cachefront.services.ephemeris.grid import chunk_of, grid_count, grid_range, snap
from cachefront.services.ephemeris.keys import NAMESPACE, instant_of, record_key
from cachefront.services.ephemeris.models import EphemerisRecord, record_to_json_bytes
from cachefront.services.ephemeris.providers import EphemerisProvider

__all__ = ["EphemerisService", "RangeResult"]

log = logging.getLogger(__name__)

LateRecords = Callable[[list[EphemerisRecord]], Awaitable[object]]
"""What to do with a provider's records that came after the user deadline: store them."""


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Rows of a range query, in time order then in the order the bodies were asked."""

    rows: list[Cached]
    tier: Tier


class EphemerisService:
    def __init__(
        self,
        cache: TieredCache,
        providers: Sequence[EphemerisProvider],
        *,
        grid_step: timedelta,
        batch_steps: int,
        max_rows: int,
        policy: CachePolicy,
        fallback_policy: CachePolicy | None = None,
    ) -> None:
        if not providers:
            raise ValueError("at least one ephemeris provider is needed")
        self.cache = cache
        self.providers = tuple(providers)
        self.grid_step = grid_step
        self.batch_steps = batch_steps
        self.max_rows = max_rows
        self.policy = policy
        self.fallback_policy = fallback_policy

    # --- reads -------------------------------------------------------------------------
    @property
    def coverage(self) -> Coverage:
        """The instants the configured providers can answer for, together."""
        return coverage_of(provider.name for provider in self.providers)

    async def position(self, body: Body, at: datetime) -> Cached:
        """The record of ``body`` at the grid instant nearest ``at``."""
        instant = snap(at, self.grid_step)
        self.coverage.require(instant, field="at")
        key = record_key(body, instant)
        cached = await self.cache.get(NAMESPACE, key, self.policy)
        if cached is not None and cached.tier is not Tier.STALE:
            return cached
        first, last = chunk_of(instant, self.grid_step, self.batch_steps)
        chunk = [record_key(body, t) for t in grid_range(first, last, self.grid_step)]
        found = await self.cache.get_many_or_fetch(
            NAMESPACE, chunk, self._fetcher(body, self.grid_step, "user"), self.policy
        )
        return _require(found, key)

    async def positions(
        self,
        bodies: Sequence[Body],
        start: datetime,
        stop: datetime,
        step: timedelta,
        *,
        priority: str = "user",
    ) -> RangeResult:
        """Rows for every body at every instant of ``step`` from ``start`` to ``stop``.

        ``priority="background"`` is for jobs: their upstream calls use the background
        share of the budget and wait the full upstream timeout. The size is counted
        from grid indices and checked before any instant is built, so a refused range
        costs microseconds whatever it spans.
        """
        count = grid_count(start, stop, step)
        total = count * len(bodies)
        if total > self.max_rows:
            raise RangeTooLargeError(
                f"{len(bodies)} bodies x {count} instants = {total} rows, "
                f"more than the limit of {self.max_rows}; narrow the range or widen the step",
                field="stop",
            )
        if count:
            reach = step if step != self.grid_step else timedelta(0)
            self.coverage.require(snap(start, step), field="start", reach=reach)
            self.coverage.require(snap(stop, step), field="stop", reach=reach)
        instants = grid_range(start, stop, step)
        per_body = await asyncio.gather(
            *(
                self.cache.get_many_or_fetch(
                    NAMESPACE,
                    [record_key(body, t) for t in instants],
                    self._fetcher(body, step, priority),
                    self.policy,
                )
                for body in bodies
            )
        )
        rows = [
            _require(found, record_key(body, t))
            for t in instants
            for body, found in zip(bodies, per_body, strict=True)
        ]
        tier = max((row.tier for row in rows), key=tier_rank, default=Tier.MEMORY)  # dearest
        return RangeResult(rows=rows, tier=tier)

    async def precompute(
        self, bodies: Sequence[Body], start: datetime, stop: datetime
    ) -> dict[Body, int]:
        """Fill the cache for ``bodies`` over a window at background priority.

        Returns how many rows were missing per body; at most one provider call per body,
        none when everything is already cached.
        """
        instants = grid_range(start, stop, self.grid_step)
        missing: dict[Body, int] = {}
        for body in bodies:
            keys = [record_key(body, t) for t in instants]
            counter = _CountingFetcher(self._fetcher(body, self.grid_step, "background"))
            await self.cache.get_many_or_fetch(NAMESPACE, keys, counter, self.policy)
            missing[body] = counter.keys_fetched
        return missing

    # --- fetching ----------------------------------------------------------------------
    def _fetcher(self, body: Body, step: timedelta, priority: str) -> _RowFetcher:
        return _RowFetcher(self, body, step, priority)

    async def fetch_records(
        self,
        body: Body,
        start: datetime,
        stop: datetime,
        step: timedelta,
        priority: str,
        *,
        late: LateRecords | None = None,
    ) -> list[EphemerisRecord]:
        """Ask the providers in order; the first that answers wins.

        With ``late`` and ``priority="user"``, every provider but the last gets the
        user deadline (``cache.overtime``): past it the next one is asked, while the
        call goes on in the background and hands its records to ``late``. When no
        later provider can answer after all, the overrunning call is awaited to its
        own end: a slow upstream still beats none. A later provider refusing the input
        (the local ephemeris outside its coverage) after an earlier one failed is an
        outage of the earlier one, not the caller's mistake: UpstreamError, so 503.
        """
        overtime = self.cache.overtime
        failures: list[str] = []
        overdue: asyncio.Future[list[EphemerisRecord]] | None = None
        overdue_name = ""
        last = len(self.providers) - 1
        for index, provider in enumerate(self.providers):
            call = provider.positions(body, start, stop, step, priority=priority)
            try:
                if late is None or priority != "user" or index == last:
                    return await call
                future = await overtime.within(call, late)
                if future is not None and future.done():
                    return future.result()
                if future is not None and overdue is None:
                    overdue, overdue_name = future, provider.name
                raise UpstreamTimeoutError(
                    provider.name, f"no answer within the user deadline ({overtime.deadline:g} s)"
                )
            except UpstreamError as exc:
                failures.append(f"{provider.name}: {exc.detail}")
                log.warning(
                    "ephemeris provider %s failed for %s, trying the next: %s",
                    provider.name,
                    body,
                    exc.detail,
                    extra={"action": "ephemeris.provider_failed"},
                )
            except InvalidInputError as exc:
                if not failures:
                    raise
                failures.append(f"{provider.name}: {exc.detail}")
        if overdue is not None:
            # Its records are also handed to ``late``: stored twice, the same values.
            try:
                return await asyncio.shield(overdue)
            except UpstreamError as exc:
                failures.append(f"{overdue_name}, after the deadline: {exc.detail}")
        raise UpstreamError("ephemeris", "; ".join(failures))


def _require(found: Mapping[str, Cached], key: str) -> Cached:
    """The answer for ``key``; a provider that skipped an instant is an upstream fault."""
    try:
        return found[key]
    except KeyError:
        raise UpstreamError("ephemeris", f"no provider returned a position for {key}") from None


@dataclass(slots=True)
class _RowFetcher:
    """Fetches the records behind a set of missing keys of one body in one provider call."""

    service: EphemerisService
    body: Body
    step: timedelta
    priority: str

    async def __call__(self, keys: list[str]) -> Mapping[str, bytes]:
        instants = sorted(instant_of(key) for key in keys)
        start, stop = instants[0], instants[-1]
        service = self.service
        if self.step == service.grid_step:
            # Widen to whole aligned chunks: a sliding window ("the next 48 hours") then
            # costs one call per chunk as it advances, not one per hour. Everything
            # fetched is returned, so the cache keeps the neighbours too.
            start = chunk_of(start, service.grid_step, service.batch_steps)[0]
            stop = chunk_of(stop, service.grid_step, service.batch_steps)[1]
        records = await service.fetch_records(
            self.body, start, stop, self.step, self.priority, late=self._store_late
        )
        return self._values(records)

    def _values(self, records: list[EphemerisRecord]) -> Mapping[str, bytes]:
        service = self.service
        values = {record_key(self.body, r.at): record_to_json_bytes(r) for r in records}
        primary = service.providers[0].name
        if records and records[0].provider != primary and service.fallback_policy is not None:
            # A fallback's answer is good, but the primary's is better: keep it fresh
            # only briefly, so the primary is asked again (in the background) soon.
            return Fetched(values, policy=service.fallback_policy)
        return values

    async def _store_late(self, records: list[EphemerisRecord]) -> None:
        """Store what a provider answered after the user deadline, over the fallback's rows.

        Stored later, so newer: the tiers keep it (the PostgreSQL upsert keeps the newest).
        Should it come while the fallback is still computing, the fallback's rows, stored
        after, win until their short freshness ends and the primary is asked again.
        """
        values = self._values(records)
        policy = values.policy if isinstance(values, Fetched) else self.service.policy
        await self.service.cache.put_many(NAMESPACE, values, policy)
        log.info(
            "stored %d late records of %s from %s",
            len(values),
            self.body,
            records[0].provider if records else "?",
            extra={"action": "ephemeris.late_answer_stored"},
        )


@dataclass(slots=True)
class _CountingFetcher:
    inner: _RowFetcher
    keys_fetched: int = 0

    async def __call__(self, keys: list[str]) -> Mapping[str, bytes]:
        self.keys_fetched += len(keys)
        return await self.inner(keys)
