"""Inbound limits per identity and route group, counted in process memory or in Redis.

The algorithm is the sliding-window counter in both storages: the count of the current
fixed window plus the previous window's count weighted by how much of it still
overlaps the sliding window. It costs O(1) memory and work per hit, and a burst into a
fresh window is counted exactly.

- Memory: a dictionary per process, about a microsecond per hit. Each process counts
  alone, so N processes admit up to N times the limit.
- Redis: ``limits``' sliding-window counter (one Lua script, atomic), so every process
  sharing the Redis spends from one count: exact across processes, at the cost of two
  Redis round trips per request (the hit, then the window's state for the headers).
  When Redis stops answering, counting goes on in memory (logged once per outage) and
  returns to Redis after ``redis_retry_seconds``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import limits
import redis.asyncio
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from cachefront.ratelimit.headers import policy_header, ratelimit_header

__all__ = [
    "DEFAULT_REDIS_RETRY_SECONDS",
    "KEY_SCHEMA",
    "InboundLimiter",
    "LocalCounter",
    "Verdict",
]

log = logging.getLogger(__name__)

DEFAULT_REDIS_RETRY_SECONDS = 5.0
# Redis keys are "<prefix>:ratelimit_v1:LIMITER/<group>/<identity>/<amount>/...".
KEY_SCHEMA = "ratelimit_v1"
_REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
_REDIS_SOCKET_TIMEOUT_SECONDS = 1.0
# Keys kept in memory before windows that ended are swept out.
_LOCAL_SWEEP_AT = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one hit, and the headers that tell the caller about its limit."""

    allowed: bool
    retry_after: int  # seconds until a refused request may come back; 0 when allowed
    headers: tuple[tuple[bytes, bytes], ...]


class LocalCounter:
    """Sliding-window counters in process memory."""

    def __init__(self) -> None:
        # key -> [window index, previous window's count, current window's count]
        self._state: dict[str, list[int]] = {}

    def hit(self, key: str, amount: int, window: int, now: float) -> tuple[bool, int, int]:
        """``(allowed, remaining, seconds to reset or retry)`` after counting one request."""
        index = int(now // window)
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= _LOCAL_SWEEP_AT:
                self._sweep(index)
            state = self._state[key] = [index, 0, 0]
        elif state[0] != index:
            state[1] = state[2] if state[0] == index - 1 else 0
            state[2] = 0
            state[0] = index
        elapsed = now - index * window
        previous, current = state[1], state[2]
        count = previous * (1.0 - elapsed / window) + current
        if count + 1 > amount:
            return False, 0, _retry_after(previous, current, amount, window, elapsed)
        state[2] = current + 1
        remaining = max(0, math.floor(amount - count - 1))
        return True, remaining, math.ceil(window - elapsed)

    def _sweep(self, index: int) -> None:
        self._state = {k: v for k, v in self._state.items() if v[0] >= index - 1}


def _retry_after(previous: int, current: int, amount: int, window: int, elapsed: float) -> int:
    """Seconds until the weighted count has room for one more request."""
    room = amount - 1 - current
    if room >= 0:
        # previous * (1 - t / window) <= room, solved for t within this window.
        at = window * (1.0 - room / previous) if previous else elapsed
        return max(1, math.ceil(at - elapsed))
    # Only the next window helps: then the current count becomes the weighted previous.
    at_next = window * (1.0 - (amount - 1) / current) if current else 0.0
    return max(1, math.ceil(window - elapsed + at_next))


class InboundLimiter:
    """Counts requests per (route group, identity) against each group's limit."""

    def __init__(
        self,
        group_limits: dict[str, limits.RateLimitItem],
        *,
        redis_url: str | None = None,
        key_prefix: str = "cf",
        redis_retry_seconds: float = DEFAULT_REDIS_RETRY_SECONDS,
    ) -> None:
        self.limits = group_limits
        self._local = LocalCounter()
        self._policy = {
            group: (b"ratelimit-policy", policy_header(group, item.amount, item.get_expiry()))
            for group, item in group_limits.items()
        }
        self._redis_url = redis_url
        self._key_prefix = f"{key_prefix}:{KEY_SCHEMA}"
        self._redis: SlidingWindowCounterRateLimiter | None = None
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._redis_down = False
        self._retry_redis_at = 0.0
        self.redis_retry_seconds = redis_retry_seconds

    @property
    def using_redis(self) -> bool:
        return self._redis is not None and not self._redis_down

    async def open(self) -> None:
        if self._redis_url is None or self._redis is not None:
            return
        self._pool = redis.asyncio.ConnectionPool.from_url(
            self._redis_url.removeprefix("async+"),
            socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_SOCKET_TIMEOUT_SECONDS,
        )
        options: dict[str, Any] = {"connection_pool": self._pool}
        url = self._redis_url.removeprefix("async+")
        uri = (
            "async+redis+unix" + url.removeprefix("unix")
            if url.startswith("unix:")
            else ("async+" + url)
        )
        storage = RedisStorage(
            uri,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=self._key_prefix,
            **options,
        )
        self._redis = SlidingWindowCounterRateLimiter(storage)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._pool = None
        self._redis = None

    async def hit(self, group: str, identity_key: str) -> Verdict:
        """Count one request of ``identity_key`` in ``group``."""
        item = self.limits[group]
        window = item.get_expiry()
        if self._redis is not None and (
            not self._redis_down or time.monotonic() >= self._retry_redis_at
        ):
            try:
                verdict = await self._hit_redis(self._redis, item, group, identity_key, window)
            except StorageError as exc:
                self._note_redis_down(repr(exc.storage_error))
            else:
                if self._redis_down:
                    self._redis_down = False
                    log.info(
                        "inbound limits: Redis is back; counting there again",
                        extra={"action": "ratelimit.redis_back"},
                    )
                return verdict
        allowed, remaining, seconds = self._local.hit(
            f"{group}/{identity_key}", item.amount, window, time.time()
        )
        return self._verdict(group, allowed, remaining, seconds)

    async def _hit_redis(
        self,
        limiter: SlidingWindowCounterRateLimiter,
        item: limits.RateLimitItem,
        group: str,
        identity_key: str,
        window: int,
    ) -> Verdict:
        allowed = await limiter.hit(item, group, identity_key)
        stats = await limiter.get_window_stats(item, group, identity_key)
        seconds = max(1, math.ceil(stats.reset_time - time.time()))
        return self._verdict(group, allowed, stats.remaining, min(seconds, window))

    def _verdict(self, group: str, allowed: bool, remaining: int, seconds: int) -> Verdict:
        headers = (self._policy[group], (b"ratelimit", ratelimit_header(group, remaining, seconds)))
        return Verdict(allowed, 0 if allowed else seconds, headers)

    def _note_redis_down(self, reason: str) -> None:
        self._retry_redis_at = time.monotonic() + self.redis_retry_seconds
        if self._redis_down:
            return
        self._redis_down = True
        log.warning(
            "inbound limits: Redis unreachable (%s); counting in process memory "
            "and trying Redis again every %.0fs",
            reason,
            self.redis_retry_seconds,
            extra={"action": "ratelimit.redis_down"},
        )
