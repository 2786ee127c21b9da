"""The tiered read-through cache: memory, Redis, PostgreSQL, then one fetch per key.

A read walks the tiers of the namespace's policy from the cheapest down, refilling the
tiers above with what a lower one had (original timestamps kept, so ``Age`` stays
true), and lets ``policy.decide`` say what to do with the best entry found: serve it,
answer "not found", serve it stale and revalidate in the background, or fetch. Fetches
go through ``SingleFlight`` so that concurrent misses of one key fetch once. Each tier
read is a span of the request's trace when it has one (``cachefront.tracing``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from cachefront import tracing
from cachefront.cache.background import background_context
from cachefront.cache.entry import Cached, CacheEntry, Tier, make_entry
from cachefront.cache.invalidation import Announcer
from cachefront.cache.memory import MemoryStore
from cachefront.cache.overtime import Overtime
from cachefront.cache.policy import (
    CachePolicy,
    Decision,
    Freshness,
    ReadPlan,
    classify,
    decide,
    plan_reads,
    usable_if_error,
)
from cachefront.cache.postgres_store import PostgresStore
from cachefront.cache.reads import ReadLog
from cachefront.cache.redis_store import RedisStore
from cachefront.cache.singleflight import Outcome, SingleFlight
from cachefront.cache.store import BatchStore, EntryStore
from cachefront.errors import NotFoundError, NotReadyError, UpstreamError
from cachefront.lifecycle import AsyncResource

__all__ = ["Fetch", "FetchMany", "Fetched", "TieredCache"]

logger = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[bytes]]
"""Fetch one value from upstream: its serialized bytes, or raise NotFoundError/UpstreamError."""

FetchMany = Callable[[list[str]], Awaitable[Mapping[str, bytes]]]


class Fetched(dict[str, bytes]):
    """What a fetcher may return instead of a plain mapping, to store under another policy.

    A provider chain that had to fall back to a lesser source can keep its answers
    fresh for a shorter time, so the primary source is asked again sooner.
    """

    def __init__(self, values: Mapping[str, bytes], *, policy: CachePolicy) -> None:
        super().__init__(values)
        self.policy = policy


"""Fetch many keys at once; a key left out of the answer is taken as not found."""

_Found = dict[str, tuple[CacheEntry, Tier]]


def _single(key: str, fetch: Fetch) -> FetchMany:
    async def fetch_many(keys: list[str]) -> Mapping[str, bytes]:
        return {key: await fetch()}

    return fetch_many


def _not_found(ns: str, key: str, entry: CacheEntry) -> NotFoundError:
    # A negative entry keeps the detail of the original NotFoundError as its value.
    detail = entry.value.decode("utf-8", "replace") or f"{ns}/{key} was not found"
    return NotFoundError(detail)


class TieredCache(AsyncResource):
    """Read-through cache over the memory, Redis and PostgreSQL tiers.

    Use it between ``open()`` and ``aclose()``, or as ``async with cache:``. It owns
    neither the Redis link (the process's, closed by the app) nor the database engine.
    ``overtime`` is the user-facing deadline fetchers apply to their upstream calls, and
    the bounded set of calls that overran it and will store their answers late
    (``put_many``); it is closed with the cache.
    """

    def __init__(
        self,
        *,
        memory: MemoryStore,
        redis: RedisStore | None = None,
        db: PostgresStore | None = None,
        locks: SingleFlight | None = None,
        overtime: Overtime | None = None,
        announcer: Announcer | None = None,
        reads: ReadLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.memory = memory
        # Hits of the namespaces with a quota, written to PostgreSQL in batches so that
        # eviction knows what is still read (``cachefront.cache.reads``); the memory
        # tier reports its hits to it too.
        self.reads = reads
        if reads is not None:
            memory.reads = reads
        # Tells the other processes what this one wrote or deleted in the shared tiers,
        # and drops from ``memory`` what they did (``cachefront.cache.invalidation``).
        self.announcer = announcer
        self.redis = redis
        self.db = db
        self.overtime = overtime if overtime is not None else Overtime()
        self._locks = locks if locks is not None else SingleFlight(redis=redis, db=db)
        self._clock = clock
        self._open = False

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Make the cache usable; an unreachable Redis is logged, and skipped until it answers."""
        if self.redis is not None:
            await self.redis.ping()
        if self.announcer is not None:
            await self.announcer.open()
        if self.reads is not None:
            await self.reads.start()
        self._open = True

    async def aclose(self) -> None:
        """Cancel background revalidations, fills and overtime, wait for them, close Redis."""
        self._open = False
        if self.announcer is not None:
            await self.announcer.aclose()
        if self.reads is not None:
            await self.reads.aclose()
        await self.overtime.aclose()
        await self._locks.aclose()
        if self.redis is not None:
            await self.redis.aclose()

    def _ready(self) -> None:
        if not self._open:
            raise NotReadyError(
                "the cache is not open: call `await cache.open()` (or `async with cache:`) "
                "in the application lifespan before using it"
            )

    # --- reads ---------------------------------------------------------------------------

    async def get(
        self, ns: str, key: str, policy: CachePolicy, *, revalidate: Fetch | None = None
    ) -> Cached | None:
        """The cached answer for ``key`` without fetching, or None when absent or expired.

        A stale entry is returned with ``tier=STALE``; given ``revalidate``, a background
        fetch refreshes it. A remembered "not found" raises NotFoundError.
        """
        self._ready()
        now = self._clock()
        plan = plan_reads([key], await self._lookup(ns, [key], policy, now), now)
        if plan.fetch:
            return None
        if plan.stale and revalidate is not None:
            self._revalidate(ns, plan.stale, _single(key, revalidate), policy)
        return self._answer(ns, key, plan)

    async def get_or_fetch(self, ns: str, key: str, fetch: Fetch, policy: CachePolicy) -> Cached:
        """The answer for ``key``: from the first tier that has it fresh, else fetched once.

        Stale entries are served at once and revalidated in the background. A fetch that
        raises NotFoundError is remembered for ``policy.negative_for``; one that raises
        UpstreamError is answered by a stale entry when one is within its window.
        """
        self._ready()
        now = self._clock()
        if "memory" in policy.tiers:
            # The common case, without the walk's bookkeeping.
            hit = self.memory.peek(ns, key)
            if hit is not None and decide(hit, now) is Decision.SERVE:
                tracing.mark(Tier.MEMORY, ns)
                return Cached(hit, Tier.MEMORY)
        plan = plan_reads([key], await self._lookup(ns, [key], policy, now), now)
        if not plan.fetch:
            if plan.stale:
                self._revalidate(ns, plan.stale, _single(key, fetch), policy)
            return self._answer(ns, key, plan)

        fetch_many = _single(key, fetch)
        futures = self._locks.run(
            ns, [key], lambda keys: self._fill(ns, keys, fetch_many, policy, {}, background=False)
        )
        cached = await asyncio.shield(futures[key])
        if cached.entry.negative:
            raise _not_found(ns, key, cached.entry)
        return cached

    async def get_many_or_fetch(
        self, ns: str, keys: Sequence[str], fetch_many: FetchMany, policy: CachePolicy
    ) -> dict[str, Cached]:
        """Answers for ``keys`` (those not found left out), with one fetch for all misses.

        Keys another caller is already filling, here or in another process, are awaited
        rather than fetched again. If the fetch fails, its error is raised unless every
        failed key has a stale entry to answer with.
        """
        self._ready()
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        now = self._clock()
        plan = plan_reads(wanted, await self._lookup(ns, wanted, policy, now), now)
        answers = plan.served
        if plan.stale:
            self._revalidate(ns, plan.stale, fetch_many, policy)

        if plan.fetch:
            missing = plan.fetch
            futures = self._locks.run(
                ns,
                missing,
                lambda keys: self._fill(ns, keys, fetch_many, policy, {}, background=False),
            )
            outcomes = await asyncio.gather(
                *(asyncio.shield(futures[key]) for key in missing), return_exceptions=True
            )
            failure: BaseException | None = None
            for key, outcome in zip(missing, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                    continue
                if not outcome.entry.negative:
                    answers[key] = outcome
            if failure is not None:
                raise failure
        return {key: answers[key] for key in wanted if key in answers}

    def _answer(self, ns: str, key: str, plan: ReadPlan) -> Cached:
        """The answer a plan of one key holds: its entry, or the remembered "not found"."""
        negative = plan.not_found.get(key)
        if negative is not None:
            raise _not_found(ns, key, negative)
        return plan.served[key]

    # --- writes ----------------------------------------------------------------------------

    async def put_many(self, ns: str, items: Mapping[str, bytes], policy: CachePolicy) -> None:
        """Store fetched values in every tier of the policy, one round trip per tier."""
        self._ready()
        now = self._clock()
        entries = {key: make_entry(value, policy, now=now) for key, value in items.items()}
        await self._store(ns, entries, policy, None)

    async def invalidate(
        self, ns: str, key: str | None = None, *, prefix: str | None = None
    ) -> int:
        """Forget ``key``, or every key starting with ``prefix``, or the whole namespace.

        Returns how many entries the fullest tier held. A fill already running for a key
        still stores its result afterwards.
        """
        self._ready()
        if key is not None and prefix is not None:
            raise ValueError("invalidate takes a key or a prefix, not both")
        stores: list[EntryStore] = [self.memory]
        stores += [store for store in (self.redis, self.db) if store is not None]
        counts = []
        for store in stores:
            if key is not None:
                counts.append(await store.delete(ns, key))
            else:
                counts.append(await store.delete_prefix(ns, prefix or ""))
        if self.announcer is not None:
            if key is not None:
                await self.announcer.announce(ns, [key])
            else:
                await self.announcer.announce(ns, prefix=prefix or "")
        return max(counts)

    # --- internals -------------------------------------------------------------------------

    def _shared_tiers(
        self, policy: CachePolicy, db: BatchStore | None = None
    ) -> list[tuple[Tier, BatchStore]]:
        tiers: list[tuple[Tier, BatchStore]] = []
        if self.redis is not None and "redis" in policy.tiers:
            tiers.append((Tier.REDIS, self.redis))
        store = db if db is not None else self.db
        if store is not None and "db" in policy.tiers:
            tiers.append((Tier.DB, store))
        return tiers

    async def _lookup(
        self,
        ns: str,
        keys: Sequence[str],
        policy: CachePolicy,
        now: float,
        db: BatchStore | None = None,
    ) -> _Found:
        """The best unexpired entry of each key: the first fresh one, else the newest stale.

        What a lower tier had is written to the tiers above it that lacked it.
        """
        best: _Found = {}
        unsettled = list(keys)  # keys without a fresh entry yet
        above: list[BatchStore] = []
        if "memory" in policy.tiers:
            unsettled = []
            with tracing.lookup(Tier.MEMORY, ns, len(keys)) as traced:
                for key in keys:
                    entry = self.memory.peek(ns, key)
                    if entry is not None:
                        best[key] = (entry, Tier.MEMORY)
                    if entry is None or now >= entry.fresh_until:
                        unsettled.append(key)
                tracing.note_hits(traced, len(best), len(keys))
            above.append(self.memory)
        for tier, store in self._shared_tiers(policy, db):
            if not unsettled:
                break
            with tracing.lookup(tier, ns, len(unsettled)) as traced:
                found = await store.get_many(ns, unsettled)
                tracing.note_hits(traced, len(found), len(unsettled))
            if self.reads is not None:
                for key in found:
                    self.reads.note(ns, key)
            better: dict[str, CacheEntry] = {}
            still: list[str] = []
            for key in unsettled:
                entry = found.get(key)
                freshness = Freshness.EXPIRED if entry is None else classify(entry, now)
                if entry is not None and freshness is not Freshness.EXPIRED:
                    current = best.get(key)
                    if current is None or entry.stored_at > current[0].stored_at:
                        best[key] = (entry, tier)
                        better[key] = entry
                if freshness is not Freshness.FRESH:
                    still.append(key)
            for upper in above:
                if better:
                    await upper.set_many(ns, better)
            above.append(store)
            unsettled = still
        return best

    async def _fetch(
        self, ns: str, keys: list[str], fetch_many: FetchMany, policy: CachePolicy
    ) -> tuple[dict[str, CacheEntry], dict[str, CacheEntry]]:
        """Entries for ``keys`` (negative where missing), and any extra keys fetched along.

        A fetcher may return more than it was asked for (a provider that answers a whole
        window in one call): keeping those too is what makes range batching pay off.
        """
        try:
            values = await fetch_many(keys)
        except NotFoundError as exc:
            detail = str(exc).encode()
            now = self._clock()
            return {key: make_entry(detail, policy, now=now, negative=True) for key in keys}, {}
        now = self._clock()
        if isinstance(values, Fetched):
            policy = values.policy
        entries: dict[str, CacheEntry] = {}
        for key in keys:
            value = values.get(key)
            if value is None:
                entries[key] = make_entry(b"", policy, now=now, negative=True)
            else:
                entries[key] = make_entry(value, policy, now=now)
        extras = {
            key: make_entry(value, policy, now=now)
            for key, value in values.items()
            if key not in entries
        }
        return entries, extras

    async def _store(
        self,
        ns: str,
        entries: Mapping[str, CacheEntry],
        policy: CachePolicy,
        db: BatchStore | None,
    ) -> None:
        if not entries:
            return
        # Bottom up: PostgreSQL is the record, then what other processes read first.
        shared = self._shared_tiers(policy, db)
        for _, store in reversed(shared):
            await store.set_many(ns, entries)
        if shared and self.announcer is not None:
            # Other processes' memory may hold older values of these keys.
            await self.announcer.announce(ns, list(entries))
        if "memory" in policy.tiers:
            for key, entry in entries.items():
                self.memory.put(ns, key, entry)

    async def _fill(
        self,
        ns: str,
        keys: list[str],
        fetch_many: FetchMany,
        policy: CachePolicy,
        stale: dict[str, CacheEntry],
        *,
        background: bool,
    ) -> dict[str, Outcome]:
        """One fill of ``keys``: recheck, fetch the rest once, store; stale on upstream error."""

        async def recheck(wanted: list[str], db: BatchStore | None) -> dict[str, Cached]:
            now = self._clock()
            fresh: dict[str, Cached] = {}
            for key, (entry, tier) in (await self._lookup(ns, wanted, policy, now, db)).items():
                if classify(entry, now) is Freshness.FRESH:
                    fresh[key] = Cached(entry, tier)
                elif key not in stale or entry.stored_at > stale[key].stored_at:
                    stale[key] = entry
            return fresh

        async def produce(wanted: list[str], db: BatchStore | None) -> dict[str, Cached]:
            entries, extras = await self._fetch(ns, wanted, fetch_many, policy)
            await self._store(ns, {**extras, **entries}, policy, db)
            return {key: Cached(entry, Tier.UPSTREAM) for key, entry in entries.items()}

        outcomes = await self._locks.fill(
            ns, keys, recheck=recheck, produce=produce, shared=bool(self._shared_tiers(policy))
        )
        self._report(ns, outcomes, stale, background=background)
        return outcomes

    def _report(
        self,
        ns: str,
        outcomes: dict[str, Outcome],
        stale: dict[str, CacheEntry],
        *,
        background: bool,
    ) -> None:
        """Answer upstream errors with stale entries where allowed; log the fill's failures."""
        now = self._clock()
        failed: dict[str, Exception] = {}
        for key, outcome in outcomes.items():
            if not isinstance(outcome, Exception):
                continue
            failed[key] = outcome
            entry = stale.get(key)
            if (
                isinstance(outcome, UpstreamError)
                and entry is not None
                and usable_if_error(entry, now)
            ):
                outcomes[key] = Cached(entry, Tier.STALE)
        if not failed:
            return
        served_stale = sum(1 for key in failed if isinstance(outcomes[key], Cached))
        if background or served_stale:
            error = next(iter(failed.values()))
            logger.warning(
                "cache fill of %d key(s) in %s failed (%s); %d served stale",
                len(failed),
                ns,
                error,
                served_stale,
                extra={
                    "action": "cache.revalidate_failed" if background else "cache.stale_if_error",
                    "namespace": ns,
                    "keys": len(failed),
                    "served_stale": served_stale,
                },
            )

    def _revalidate(
        self, ns: str, stale: dict[str, CacheEntry], fetch_many: FetchMany, policy: CachePolicy
    ) -> None:
        """Refresh stale keys in the background; a key already being filled is left to it."""
        # Background work reports to no request: the fetch's upstream calls are not the
        # current request's.
        context = background_context()
        self._locks.run(
            ns,
            list(stale),
            lambda keys: self._fill(
                ns, keys, fetch_many, policy, {k: stale[k] for k in keys}, background=True
            ),
            context=context,
        )
