"""Inbound limits per identity and route group, counted in process memory or in Redis.

The algorithm is the sliding-window counter in both storages: the count of the current
fixed window plus the previous window's count weighted by how much of it still
overlaps the sliding window. It costs O(1) memory and work per hit, and a burst into a
fresh window is counted exactly.

- Memory: a dictionary per process, about a microsecond per hit. Each process counts
  alone, so N processes admit up to N times the limit.
- Redis with leases (the default): each process takes blocks of units of a key's
  window from the shared count and spends them in memory (``cachefront.ratelimit.leases``
  says how, and how much of a limit that may leave unused). The cluster never admits
  more than the limit, and a request its lease covers awaits nothing.
- Redis, exact (``exact=True``, ``CACHEFRONT_RATE_LIMIT_EXACT``): one Lua script
  (``_SLIDING_WINDOW_LUA``, called by EVALSHA) reads, decides,
  counts and returns the window's state in one atomic round trip, on Redis's clock, so
  every process sharing the Redis spends from one exact count. ``limits``' own
  sliding-window strategy needs a second call for the remaining count and reset time
  the headers show. Redis is reached through the process's Redis link
  (``cachefront.redis_link``): when Redis stops answering, counting goes on in memory
  while the link backs off (the link logs the outage, once per process) and returns
  to Redis when it answers again.

A hit is counted when the request is admitted, so concurrent requests can never
overshoot a limit; groups charged on success only (``SUCCESS_CHARGED_GROUPS``) have the
hit taken back afterwards by ``refund`` (a second, small script, off the hot path).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import NamedTuple

import limits
import redis.asyncio
from redis.exceptions import NoScriptError, RedisError

from cachefront.ratelimit.headers import policy_header, ratelimit_header
from cachefront.ratelimit.leases import LeasePool
from cachefront.ratelimit.window import outcome
from cachefront.redis_keys import ratelimit_key_prefix, ratelimit_procs_key
from cachefront.redis_link import RedisLink

__all__ = [
    "FAILED_AUTH_GROUP",
    "REDIS_USE",
    "InboundLimiter",
    "LocalCounter",
    "Verdict",
]

log = logging.getLogger(__name__)

# How the Redis link's log lines name the limiter's commands.
REDIS_USE = "ratelimit"
# The counter of failed authentications per client address (key guessing).
FAILED_AUTH_GROUP = "auth-failures"
# Keys kept in memory before windows that ended are swept out.
_LOCAL_SWEEP_AT = 100_000

# KEYS[i]: a counter's hash {w: window index, p: previous count, c: current count,
# lp, lc: ms time of the last counted hit of the previous and the current window}.
# ARGV[2i-1], ARGV[2i]: its limit and window in ms. Returns, per key in order,
# {allowed 0/1, previous, current, ms into window, window index, ms since lp, ms since
# lc}. One call counts a whole batch of hits (see ``_HitBatcher``); a key named twice
# sees its own earlier hit. TIME (allowed in scripts since Redis 5's effect
# replication) puts every process on one clock; a hash lives two windows, long enough
# to serve as the next "previous". The previous window stops weighing once its last
# hit is a whole window old: a request that all counted hits precede is never kept
# waiting longer than the window (the weighting alone assumes hits spread evenly).
_SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local index = math.floor(now / window)
  local s = redis.call('HMGET', KEYS[i], 'w', 'p', 'c', 'lp', 'lc')
  local w = tonumber(s[1])
  local p = tonumber(s[2]) or 0
  local c = tonumber(s[3]) or 0
  local lp = tonumber(s[4]) or 0
  local lc = tonumber(s[5]) or 0
  if w ~= index then
    if w == index - 1 then p = c; lp = lc else p = 0; lp = 0 end
    c = 0
    lc = 0
  end
  local elapsed = now - index * window
  local weighted = 0
  if now - lp < window then weighted = p * (window - elapsed) / window end
  local allowed = 0
  if weighted + c + 1 <= limit then
    c = c + 1
    lc = now
    allowed = 1
  end
  if allowed == 1 or w ~= index then
    redis.call('HSET', KEYS[i], 'w', index, 'p', p, 'c', c, 'lp', lp, 'lc', lc)
    if w ~= index then redis.call('PEXPIRE', KEYS[i], window * 2) end
  end
  out[#out + 1] = allowed
  out[#out + 1] = p
  out[#out + 1] = c
  out[#out + 1] = elapsed
  out[#out + 1] = index
  out[#out + 1] = now - lp
  out[#out + 1] = now - lc
end
return out
"""
_SLIDING_WINDOW_SHA = hashlib.sha1(_SLIDING_WINDOW_LUA.encode()).hexdigest()  # noqa: S324


_REFUND_LUA = """
local s = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local w = tonumber(s[1])
local index = tonumber(ARGV[1])
if w == index and (tonumber(s[3]) or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'c', -1)
elseif w == index + 1 and (tonumber(s[2]) or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'p', -1)
end
return 0
"""
_REFUND_SHA = hashlib.sha1(_REFUND_LUA.encode()).hexdigest()  # noqa: S324
# Numbers the sliding-window script returns per key.
_STATE_LEN = 7


class Verdict(NamedTuple):
    """The outcome of one hit, and the headers that tell the caller about its limit.

    A named tuple rather than a frozen dataclass: one is made for every request, and a
    frozen dataclass sets each of its fields through ``object.__setattr__``.
    """

    allowed: bool
    retry_after: int  # seconds until a refused request may come back; 0 when allowed
    headers: tuple[tuple[bytes, bytes], ...]
    # Where an allowed hit was counted, for ``InboundLimiter.refund``: the index of its
    # window, and whether Redis (not process memory) holds the count.
    window_index: int = -1
    in_redis: bool = False
    remaining: int = 0
    reset_seconds: int = 0
    leased: bool = False  # spent from this process's lease (refunded into it)


class LocalCounter:
    """Sliding-window counters in process memory."""

    def __init__(self) -> None:
        # key -> [window index, previous window's count, current window's count,
        #         time of the previous window's last counted hit, of the current's]
        self._state: dict[str, list[float]] = {}

    def hit(self, key: str, amount: int, window: int, now: float) -> tuple[bool, int, int, int]:
        """``(allowed, remaining, seconds to reset or retry, window index)`` after one hit."""
        index = int(now // window)
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= _LOCAL_SWEEP_AT:
                self._sweep(index)
            state = self._state[key] = [index, 0, 0, 0.0, 0.0]
        elif state[0] != index:
            if state[0] == index - 1:
                state[1], state[3] = state[2], state[4]
            else:
                state[1] = state[3] = 0
            state[2] = state[4] = 0
            state[0] = index
        elapsed = now - index * window
        previous, current = int(state[1]), int(state[2])
        since_previous = now - state[3]
        weighted = previous * (1.0 - elapsed / window) if since_previous < window else 0.0
        allowed = weighted + current + 1 <= amount
        if allowed:
            current += 1
            state[2] = current
            state[4] = now
        allowed, remaining, seconds = outcome(
            allowed, previous, current, amount, window, elapsed, since_previous, now - state[4]
        )
        return allowed, remaining, seconds, index

    def refund(self, key: str, index: int) -> None:
        """Take back one hit counted in window ``index`` (if its count is still kept)."""
        state = self._state.get(key)
        if state is None:
            return
        if state[0] == index and state[2] > 0:
            state[2] -= 1
        elif state[0] == index + 1 and state[1] > 0:
            state[1] -= 1

    def _sweep(self, index: int) -> None:
        self._state = {k: v for k, v in self._state.items() if v[0] >= index - 1}


class InboundLimiter:
    """Counts requests per (route group, identity) against each group's limit."""

    def __init__(
        self,
        group_limits: dict[str, limits.RateLimitItem],
        *,
        redis_link: RedisLink | None = None,
        failure_limit: limits.RateLimitItem | None = None,
        exact: bool = True,
    ) -> None:
        """Counts in Redis through ``redis_link`` (the process's link, which the limiter does
        not close) when given, else in process memory; with Redis, one round trip per
        hit when ``exact``, else from leases."""
        self.limits = group_limits
        self._local = LocalCounter()
        # Failed authentications count like a group of their own, per client address,
        # but are no route group: they stay out of ``limits`` (and the OpenAPI document).
        counted = dict(group_limits)
        if failure_limit is not None:
            counted[FAILED_AUTH_GROUP] = failure_limit
        self._policy = {
            group: (b"ratelimit-policy", policy_header(group, item.amount, item.get_expiry()))
            for group, item in counted.items()
        }
        # Per group: (limit, window in s, window in ms), read once instead of per hit.
        self._windows = {
            group: (item.amount, item.get_expiry(), item.get_expiry() * 1000)
            for group, item in counted.items()
        }
        self._link = redis_link
        self._key_prefix = ratelimit_key_prefix(redis_link.prefix) if redis_link else ""
        self._redis: redis.asyncio.Redis | None = None
        self._batcher: _HitBatcher | None = None
        self._exact = exact
        self._leases: LeasePool | None = None

    @property
    def using_redis(self) -> bool:
        return self._redis is not None and self._link is not None and not self._link.down

    async def open(self) -> None:
        if self._link is None or self._redis is not None:
            return
        # The link's client and pool, shared with the cache and the budgets; redis-py
        # picks the hiredis parser when it is installed.
        self._redis = self._link.register(REDIS_USE)
        self._batcher = _HitBatcher(self._redis)
        if not self._exact:
            self._leases = LeasePool(
                self._redis,
                self._link,
                use=REDIS_USE,
                procs_key=ratelimit_procs_key(self._link.prefix),
            )
            await self._leases.open()

    async def aclose(self) -> None:
        """Wait for the hits in flight, give leases back; the link stays open for other uses."""
        if self._leases is not None:
            await self._leases.aclose()
            self._leases = None
        if self._batcher is not None:
            await self._batcher.aclose()
        self._redis = None
        self._batcher = None

    async def hit(self, group: str, identity_key: str) -> Verdict:
        """Count one request of ``identity_key`` in ``group`` (or ``FAILED_AUTH_GROUP``)."""
        amount, window, window_ms = self._windows[group]
        if self._leases is not None:
            return await self._hit_leased(group, identity_key, amount, window, window_ms)
        batcher = self._batcher
        link = self._link
        # A batcher exists only with a link; the second test is for the type checker.
        if batcher is not None and link is not None and link.available:
            key = f"{self._key_prefix}{group}/{identity_key}"
            try:
                state = await batcher.hit(key, amount, window_ms)
            except RedisError as exc:
                link.failed(REDIS_USE, "hit", exc)
            else:
                link.succeeded(REDIS_USE)
                allowed, remaining, seconds = outcome(
                    state[0] == 1,
                    state[1],
                    state[2],
                    amount,
                    window,
                    state[3] / 1000.0,
                    state[5] / 1000.0,
                    state[6] / 1000.0,
                )
                return self._verdict(group, allowed, remaining, seconds, state[4], True)
        return self._hit_local(group, identity_key, amount, window)

    def try_hit(self, group: str, identity_key: str) -> Verdict | None:
        """``hit``, when it can be decided without awaiting; else None, nothing counted.

        Decided at once: a count in process memory, or a unit (or a refusal) from this
        process's lease. Not: a lease to take from Redis, or exact counting in Redis
        while it answers. The caller then goes the way of ``hit``.
        """
        amount, window, window_ms = self._windows[group]
        link = self._link
        if self._leases is not None and link is not None:
            key = f"{self._key_prefix}{group}/{identity_key}"
            verdict = self._spend_lease(self._leases, link, group, key, amount, window_ms)
            if verdict is not None:
                return verdict
            if link.available:
                return None
            return self._hit_local(group, identity_key, amount, window)
        if self._batcher is not None and link is not None and link.available:
            return None
        return self._hit_local(group, identity_key, amount, window)

    def _hit_local(self, group: str, identity_key: str, amount: int, window: int) -> Verdict:
        allowed, remaining, seconds, index = self._local.hit(
            f"{group}/{identity_key}", amount, window, time.time()
        )
        return self._verdict(group, allowed, remaining, seconds, index, False)

    def _spend_lease(
        self, leases: LeasePool, link: RedisLink, group: str, key: str, amount: int, window_ms: int
    ) -> Verdict | None:
        """The verdict of this process's lease of ``key``, or None when Redis must be asked."""
        spent = leases.spend(key, window_ms, time.time())
        if spent is None:
            return None
        if leases.wants_refill(key, amount) and link.available:
            leases.refill_ahead(key, amount, window_ms)
        allowed, remaining, seconds = spent
        index = leases.window_of(key)
        return self._verdict(group, allowed, remaining, seconds, index, True, leased=True)

    async def _hit_leased(
        self, group: str, identity_key: str, amount: int, window: int, window_ms: int
    ) -> Verdict:
        leases = self._leases
        link = self._link
        # Set together in open.
        assert leases is not None
        assert link is not None
        key = f"{self._key_prefix}{group}/{identity_key}"
        # Until a unit is spent or Redis says there is no room: each take either grants
        # units (the shared count grows towards the limit) or marks the key refused, so
        # this ends; requests of a burst that others' units went to take again.
        while True:
            verdict = self._spend_lease(leases, link, group, key, amount, window_ms)
            if verdict is not None:
                return verdict
            if not link.available:
                break
            try:
                await leases.take(key, amount, window_ms)
            except RedisError as exc:
                link.failed(REDIS_USE, "lease", exc)
                break
        return self._hit_local(group, identity_key, amount, window)

    async def refund(self, group: str, identity_key: str, verdict: Verdict) -> None:
        """Take back the hit that gave ``verdict`` (an allowed one), where it was counted.

        Off the hot path: called after a response, for groups charged on success only.
        A refund Redis cannot take is lost (logged): the caller is then charged for
        one request it should not have been, never the other way round.
        """
        if not verdict.allowed:
            return
        if verdict.leased:
            if self._leases is not None:
                key = f"{self._key_prefix}{group}/{identity_key}"
                self._leases.give_back_one(key, verdict.window_index)
            return
        if not verdict.in_redis:
            self._local.refund(f"{group}/{identity_key}", verdict.window_index)
            return
        if self._redis is None or self._link is None:
            return
        if not self._link.available:
            log.warning(
                "inbound limits: refund of %s lost, Redis is away",
                group,
                extra={"action": "ratelimit.refund_failed"},
            )
            return
        key = f"{self._key_prefix}{group}/{identity_key}"
        try:
            await _run_script(self._redis, [key], [verdict.window_index], _REFUND_SHA, _REFUND_LUA)
        except RedisError as exc:
            self._link.failed(REDIS_USE, "refund", exc)
            log.warning(
                "inbound limits: refund of %s not taken by Redis (%r)",
                group,
                exc,
                extra={"action": "ratelimit.refund_failed"},
            )
        else:
            self._link.succeeded(REDIS_USE)

    def _verdict(
        self,
        group: str,
        allowed: bool,
        remaining: int,
        seconds: int,
        index: int,
        in_redis: bool,
        *,
        leased: bool = False,
    ) -> Verdict:
        headers = (self._policy[group], (b"ratelimit", ratelimit_header(group, remaining, seconds)))
        return Verdict(
            allowed, 0 if allowed else seconds, headers, index, in_redis, remaining, seconds, leased
        )

    def refunded_headers(self, group: str, verdict: Verdict) -> tuple[tuple[bytes, bytes], ...]:
        """The RateLimit headers of an allowed ``verdict`` as they read once it is refunded."""
        remaining = min(self._windows[group][0], verdict.remaining + 1)
        value = ratelimit_header(group, remaining, verdict.reset_seconds)
        return (self._policy[group], (b"ratelimit", value))


class _HitBatcher:
    """Counts hits in Redis, sending the hits of one event-loop turn in one script call.

    A hit that finds no call in flight is sent at once by its own request, with nothing
    added to its latency. While calls are in flight, new hits are gathered and sent
    together on the next turn of the loop: under load one Redis command serves a whole
    batch of requests instead of one each. Every hit is still counted atomically on the
    shared count, in arrival order.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._in_flight = 0
        self._pending: list[tuple[str, int, int, asyncio.Future[list[int]]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def hit(self, key: str, amount: int, window_ms: int) -> list[int]:
        """The script's numbers for this one hit (see ``_SLIDING_WINDOW_LUA``)."""
        if self._in_flight:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[list[int]] = loop.create_future()
            self._pending.append((key, amount, window_ms, future))
            if len(self._pending) == 1:
                loop.call_soon(self._flush)
            return await future
        self._in_flight += 1
        try:
            return await _run_script(
                self._client, [key], [amount, window_ms], _SLIDING_WINDOW_SHA, _SLIDING_WINDOW_LUA
            )
        finally:
            self._in_flight -= 1

    def _flush(self) -> None:
        # Sent as a task, so a caller that goes away cannot cancel the others' count.
        batch, self._pending = self._pending, []
        self._in_flight += 1
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._in_flight -= 1

    async def _send(self, batch: list[tuple[str, int, int, asyncio.Future[list[int]]]]) -> None:
        keys = [key for key, _, _, _ in batch]
        args: list[int] = []
        for _, amount, window_ms, _ in batch:
            args += (amount, window_ms)
        try:
            flat = await _run_script(
                self._client, keys, args, _SLIDING_WINDOW_SHA, _SLIDING_WINDOW_LUA
            )
        except Exception as exc:
            # Every hit of the batch gets the error; the limiter counts them in memory.
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for i, (*_, future) in enumerate(batch):
            if not future.done():  # a caller that went away no longer waits
                future.set_result(flat[_STATE_LEN * i : _STATE_LEN * (i + 1)])

    async def aclose(self) -> None:
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


async def _run_script(
    client: redis.asyncio.Redis, keys: list[str], args: list[int], sha: str, script: str
) -> list[int]:
    """The script's answer: EVALSHA, loading the script the first time a server lacks it."""
    try:
        state: list[int] = await client.execute_command(  # type: ignore[no-untyped-call]
            "EVALSHA", sha, len(keys), *keys, *args
        )
    except NoScriptError:
        # A new or restarted Redis, or SCRIPT FLUSH: EVAL also caches it for next time.
        state = await client.execute_command(  # type: ignore[no-untyped-call]
            "EVAL", script, len(keys), *keys, *args
        )
    return state
