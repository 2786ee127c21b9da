"""Leases of inbound-limit units: blocks of a shared Redis count, spent in process memory.

A process that counts every hit in Redis pays a round trip per request (the exact mode,
``CACHEFRONT_RATE_LIMIT_EXACT=true``). With leases it takes a block of units of one
key's current window from the shared sliding-window count at a time (``_LEASE_LUA``,
atomic, on Redis's clock) and spends them locally, at memory speed: a request that fits
in the local lease awaits nothing. A refill is sent in the background once the lease
runs below half, so a steady stream never waits on Redis either.

Correctness: every unit is counted in Redis before it is spent, so the cluster never
admits more than the limit. What a process holds and has not spent is counted but
unused, so the cluster may under-admit. The bound:

- a lease is ``size = max(1, floor(limit * LEASE_SHARE / live processes))`` units,
  at most ``LEASE_MAX_UNITS``; the live processes are those whose heartbeat
  (``RATELIMIT_PROCS_KEY_V1``, every ``HEARTBEAT_SECONDS``) is recent;
- a process holds at most about ``1.5 * size`` unspent units of one key (the rest of
  one lease and the refill taken ahead of need), so the whole cluster holds at most
  ``1.5 * LEASE_SHARE`` (7.5%) of the limit, plus one unit per process for rounding;
- units idle for ``IDLE_SECONDS`` are given back, and so are those of a window that
  ended (to that window's count, where they still weigh as "previous"), and every
  lease at shutdown. A process killed with units in hand loses them until its window
  ends.

So at least ~90% of a limit stays usable whenever ``limit / processes >= 20``; below
that the lease is one unit, which is the exact mode's one round trip per request. A
lease is valid for the window Redis granted it in, read on the local clock: clocks a
few ms apart move the edge of a window by as much.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio
from redis.exceptions import NoScriptError, RedisError

from cachefront.ratelimit.window import retry_after
from cachefront.redis_link import RedisLink

__all__ = [
    "HEARTBEAT_SECONDS",
    "IDLE_SECONDS",
    "LEASE_MAX_UNITS",
    "LEASE_SHARE",
    "Grant",
    "LeasePool",
    "lease_size",
]

log = logging.getLogger(__name__)

# The share of a limit all processes' leases of one key together may hold.
LEASE_SHARE = 0.05
# A lease never holds more, so a killed process wastes at most this many per key.
LEASE_MAX_UNITS = 1000
# How often a process says it is alive, and how long a silent one still counts.
HEARTBEAT_SECONDS = 2.0
_LIVE_SECONDS = 3 * HEARTBEAT_SECONDS
# Units unspent this long are given back, so an idle process does not sit on them.
IDLE_SECONDS = 2.0
# A refused key is not asked of Redis again for up to this long (room comes back
# gradually as the previous window stops weighing; a second is a fair price).
_REFUSED_SECONDS = 1.0

# KEYS[1]: the counter hash of the exact mode (RATELIMIT_KEY_V3: w, p, c, lp, lc), so
# both modes spend from one count. ARGV: limit, window ms, units wanted, units given
# back, the window index they were taken in. Gives back first (to the current count, or
# to the previous one if that window just ended), then grants min(wanted, room).
# Returns {granted, previous, current, ms into window, window index, ms since lp, ms
# since lc}, the exact script's layout with "granted" for "allowed".
_LEASE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local back_index = tonumber(ARGV[5])
local index = math.floor(now / window)
local s = redis.call('HMGET', KEYS[1], 'w', 'p', 'c', 'lp', 'lc')
local w = tonumber(s[1])
local p = tonumber(s[2]) or 0
local c = tonumber(s[3]) or 0
local lp = tonumber(s[4]) or 0
local lc = tonumber(s[5]) or 0
local fresh = w ~= index
if fresh then
  if w == index - 1 then p = c; lp = lc else p = 0; lp = 0 end
  c = 0
  lc = 0
end
if back > 0 then
  if back_index == index then c = math.max(0, c - back)
  elseif back_index == index - 1 then p = math.max(0, p - back) end
end
local elapsed = now - index * window
local weighted = 0
if now - lp < window then weighted = p * (window - elapsed) / window end
local room = math.floor(limit - weighted - c)
local granted = math.max(0, math.min(want, room))
if granted > 0 then
  c = c + granted
  lc = now
end
if granted > 0 or back > 0 or fresh then
  redis.call('HSET', KEYS[1], 'w', index, 'p', p, 'c', c, 'lp', lp, 'lc', lc)
  if fresh then redis.call('PEXPIRE', KEYS[1], window * 2) end
end
return {granted, p, c, elapsed, index, now - lp, now - lc}
"""
_LEASE_SHA = hashlib.sha1(_LEASE_LUA.encode()).hexdigest()  # noqa: S324


def lease_size(amount: int, live: int) -> int:
    """Units one process takes at a time of a limit of ``amount``, ``live`` processes up."""
    return max(1, min(LEASE_MAX_UNITS, math.floor(amount * LEASE_SHARE / max(1, live))))


@dataclass(frozen=True, slots=True)
class Grant:
    """What Redis answered a lease request: units granted and the window's state."""

    granted: int
    previous: int
    current: int
    elapsed_ms: int
    index: int
    since_previous_ms: int
    since_current_ms: int


@dataclass(slots=True)
class _Lease:
    """The units of one key this process holds, and what it last heard of the window."""

    index: int = -1  # the window the units belong to
    units: int = 0
    room: int = 0  # the shared room Redis reported after the last grant
    used_at: float = 0.0
    refused_until: float = 0.0
    retry_at: float = 0.0
    waiters: int = 0  # requests waiting for the take in flight
    pending: asyncio.Future[None] | None = field(default=None)


class LeasePool:
    """This process's leases, their background refills, heartbeat and give-backs."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        link: RedisLink,
        *,
        use: str,
        procs_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._link = link
        self._use = use
        self._procs_key = procs_key
        self._clock = clock
        self._member = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._leases: dict[str, _Lease] = {}
        self._live = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._keeper: asyncio.Task[None] | None = None

    @property
    def live(self) -> int:
        """Live processes sharing the limits, as the last heartbeat counted them."""
        return self._live

    async def open(self) -> None:
        await self._heartbeat()
        self._keeper = asyncio.create_task(self._keep())

    async def aclose(self) -> None:
        """Stop the keeper, wait for refills, give every unspent unit back."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        await self.settled()
        await self._give_back(None)
        if self._link.available:
            try:
                await self._client.zrem(self._procs_key, self._member)
            except RedisError as exc:
                self._link.failed(self._use, "zrem", exc)

    async def settled(self) -> None:
        """Wait until no refill is in flight."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- the hot path ---------------------------------------------------------------

    def spend(self, key: str, window_ms: int, now: float) -> tuple[bool, int, int] | None:
        """``(allowed, remaining, seconds)`` from the local lease, or None to ask Redis.

        Plain and synchronous: no await for a request its lease covers.
        """
        lease = self._leases.get(key)
        if lease is None:
            return None
        index = int(now * 1000 // window_ms)
        if lease.index != index:
            return None
        reset = max(1, math.ceil((window_ms - (now * 1000 - index * window_ms)) / 1000))
        if lease.units > 0:
            lease.units -= 1
            lease.used_at = now
            return True, lease.units + lease.room, reset
        if lease.refused_until > now:
            return False, 0, max(1, math.ceil(lease.retry_at - now))
        return None

    def wants_refill(self, key: str, amount: int) -> bool:
        """Whether ``key``'s lease is below half and no refill is on its way."""
        lease = self._leases.get(key)
        if lease is None or lease.pending is not None:
            return False
        return lease.units < lease_size(amount, self._live) // 2

    def refill_ahead(self, key: str, amount: int, window_ms: int) -> None:
        """Start a refill in the background (the request that noticed does not wait)."""
        task = asyncio.ensure_future(self.take(key, amount, window_ms))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._link.failed(self._use, "lease", task.exception() or "")

    async def take(self, key: str, amount: int, window_ms: int) -> None:
        """Take a lease of ``key`` from Redis (or wait for the one on its way).

        Raises ``RedisError``; the caller counts in memory then.
        """
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease()
        if lease.pending is not None:
            # One request per key at a time: concurrent misses share its answer.
            lease.waiters += 1
            try:
                await asyncio.shield(lease.pending)
            finally:
                lease.waiters -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease.pending = future
        try:
            now = self._clock()
            stale = lease.units if lease.index != int(now * 1000 // window_ms) else 0
            # The requests already waiting spend their units at once: none sit idle.
            want = lease_size(amount, self._live) + lease.waiters
            grant = await self._run(key, amount, window_ms, want, stale, lease.index)
            self._link.succeeded(self._use)
            if stale or lease.index != grant.index:
                lease.units = 0
            lease.index = grant.index
            lease.units += grant.granted
            weighted = 0.0
            if grant.since_previous_ms < window_ms:
                weighted = grant.previous * (window_ms - grant.elapsed_ms) / window_ms
            lease.room = max(0, math.floor(amount - weighted - grant.current))
            if grant.granted == 0 and lease.units == 0:
                seconds = _refused_seconds(grant, amount, window_ms)
                lease.retry_at = now + seconds
                lease.refused_until = now + min(seconds, _REFUSED_SECONDS)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter may not exist
            raise
        finally:
            lease.pending = None

    def give_back_one(self, key: str, index: int) -> None:
        """Put one spent unit of window ``index`` back into ``key``'s lease (a refund)."""
        lease = self._leases.get(key)
        if lease is not None and lease.index == index:
            lease.units += 1

    def window_of(self, key: str) -> int:
        lease = self._leases.get(key)
        return lease.index if lease is not None else -1

    # --- upkeep -----------------------------------------------------------------------

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._heartbeat()
                await self._give_back(self._clock() - IDLE_SECONDS)
            except Exception:  # the keeper must outlive any one failure
                log.exception("inbound limits: lease upkeep failed")

    async def _heartbeat(self) -> None:
        if not self._link.available:
            return
        now = self._clock()
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zadd(self._procs_key, {self._member: now})
                pipe.zremrangebyscore(self._procs_key, "-inf", now - _LIVE_SECONDS)
                pipe.zcard(self._procs_key)
                pipe.pexpire(self._procs_key, int(_LIVE_SECONDS * 1000))
                answers = await pipe.execute()
        except RedisError as exc:
            self._link.failed(self._use, "heartbeat", exc)
            return
        self._link.succeeded(self._use)
        self._live = max(1, int(answers[2]))

    async def _give_back(self, idle_before: float | None) -> None:
        """Return the unspent units of leases unused since ``idle_before`` (None: all)."""
        doomed = [
            (key, lease)
            for key, lease in self._leases.items()
            if lease.pending is None and (idle_before is None or lease.used_at < idle_before)
        ]
        for key, _ in doomed:
            del self._leases[key]
        returned = [(key, lease) for key, lease in doomed if lease.units > 0]
        if not returned or not self._link.available:
            return
        try:
            for key, lease in returned:
                await self._client.eval(_GIVE_BACK_LUA, 1, key, lease.units, lease.index)
        except RedisError as exc:
            self._link.failed(self._use, "give back", exc)

    async def _run(
        self,
        key: str,
        amount: int,
        window_ms: int,
        want: int,
        back: int,
        back_index: int,
    ) -> Grant:
        args = (amount, window_ms, want, back, back_index)
        try:
            state = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", _LEASE_SHA, 1, key, *args
            )
        except NoScriptError:
            state = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVAL", _LEASE_LUA, 1, key, *args
            )
        return Grant(*(int(x) for x in state))


# Gives ``back`` units to the window they were taken in, if the hash still counts it.
_GIVE_BACK_LUA = """
local s = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local w = tonumber(s[1])
local back = tonumber(ARGV[1])
local index = tonumber(ARGV[2])
if w == index then
  redis.call('HSET', KEYS[1], 'c', math.max(0, (tonumber(s[3]) or 0) - back))
elseif w == index + 1 then
  redis.call('HSET', KEYS[1], 'p', math.max(0, (tonumber(s[2]) or 0) - back))
end
return 0
"""


def _refused_seconds(grant: Grant, amount: int, window_ms: int) -> int:
    # The exact mode's answer for a refused hit, from the same state.
    return retry_after(
        grant.previous,
        grant.current,
        amount,
        window_ms // 1000,
        grant.elapsed_ms / 1000.0,
        grant.since_previous_ms / 1000.0,
        grant.since_current_ms / 1000.0,
    )
