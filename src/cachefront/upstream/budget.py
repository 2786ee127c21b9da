"""Outbound budget: how many calls per interval one provider may receive from all processes.

The budget is a moving-window limit in the ``limits`` notation ("60/minute"), counted
in Redis when a Redis URL is given, so every cachefront process spends from one
budget, and in process memory otherwise. Every attempt spends one unit, retries
included, because every attempt is a request the upstream counts.

Background work yields to user-facing misses: with ``background_share`` ``s`` and a
limit of ``N`` per window, a background call is admitted only while at least
``N - floor(s * N)`` units would remain for user calls after it (at least one unit
always goes to background, so it never starves outright). A user call may use the
whole budget. With no room, a user call waits up to ``min(deadline, max_user_wait)``
and a background call up to its deadline, then ``BudgetExhaustedError``; a call that
cannot expect room before then fails at once instead of sleeping in vain.

When Redis stops answering, the budget keeps counting in process memory (logged once
per outage) and goes back to Redis after ``redis_retry_seconds``, so a Redis outage
slows nothing down; each process then spends its own copy of the budget until Redis
is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import httpx
import limits
import redis.asyncio
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from cachefront.errors import BudgetExhaustedError, ConfigurationError, NotReadyError
from cachefront.lifecycle import AsyncResource
from cachefront.redis_keys import budget_key_prefix
from cachefront.upstream._context import CallContext, Priority

__all__ = [
    "DEFAULT_BACKGROUND_SHARE",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_MAX_USER_WAIT_SECONDS",
    "DEFAULT_REDIS_RETRY_SECONDS",
    "BudgetTransport",
    "OutboundBudget",
]

logger = logging.getLogger(__name__)

DEFAULT_BACKGROUND_SHARE = 0.5
DEFAULT_MAX_USER_WAIT_SECONDS = 2.0
DEFAULT_REDIS_RETRY_SECONDS = 5.0
DEFAULT_KEY_PREFIX = "cf"

# A budget check must never cost a call more than a moment: a Redis that does not
# answer this fast counts as down and the budget goes on in memory.
_REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
_REDIS_SOCKET_TIMEOUT_SECONDS = 1.0
# Floor of the sleep between two looks at a full window, so waiters never spin.
_MIN_POLL_SECONDS = 0.01


def _limits_uri(redis_url: str) -> str:
    """The ``async+redis://`` form ``limits`` expects, from a plain redis-py URL."""
    url = redis_url.removeprefix("async+")
    if url.startswith("unix:"):
        return "async+redis+unix" + url.removeprefix("unix")
    return "async+" + url


class OutboundBudget(AsyncResource):
    """One provider's outbound call budget, shared through Redis when one is configured."""

    def __init__(
        self,
        limit: str,
        *,
        name: str,
        background_share: float = DEFAULT_BACKGROUND_SHARE,
        redis_url: str | None = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        max_user_wait: float = DEFAULT_MAX_USER_WAIT_SECONDS,
        redis_retry_seconds: float = DEFAULT_REDIS_RETRY_SECONDS,
    ) -> None:
        try:
            self._item = limits.parse(limit)
        except ValueError as exc:
            raise ConfigurationError(
                f"outbound budget {name!r}: cannot read limit {limit!r}; "
                'expected the limits notation, e.g. "60/minute"'
            ) from exc
        if not 0 < background_share <= 1:
            raise ConfigurationError(
                f"outbound budget {name!r}: background share must be in (0, 1], "
                f"got {background_share}"
            )
        self.name = name
        self.limit = limit
        self.background_share = background_share
        self.max_user_wait = max_user_wait
        self.redis_retry_seconds = redis_retry_seconds
        amount = self._item.amount
        self.background_amount = max(1, math.floor(amount * background_share))
        self._reserved_for_users = amount - self.background_amount
        self._redis_url = redis_url
        self._key_prefix = budget_key_prefix(key_prefix)
        self._memory: MovingWindowRateLimiter | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._redis_down = False
        self._retry_redis_at = 0.0

    # --- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        """Create the storages; a Redis that does not answer only means memory for now."""
        if self._memory is not None:
            return
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        if self._redis_url is None:
            return
        self._pool = redis.asyncio.ConnectionPool.from_url(
            self._redis_url.removeprefix("async+"),
            socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_SOCKET_TIMEOUT_SECONDS,
        )
        # limits types its options as scalars; the pool is passed through to redis-py,
        # and owning it here is what lets aclose() close every connection.
        options: dict[str, Any] = {"connection_pool": self._pool}
        storage = RedisStorage(
            _limits_uri(self._redis_url),
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=self._key_prefix,
            **options,
        )
        self._redis = MovingWindowRateLimiter(storage)
        if not await storage.check():
            self._note_redis_down("no answer to PING")

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._pool = None
        self._redis = None
        self._memory = None

    @property
    def using_redis(self) -> bool:
        """True when the budget is counted in Redis right now (not in memory)."""
        return self._redis is not None and not self._redis_down

    # --- spending -----------------------------------------------------------------

    async def acquire(self, priority: Priority, *, max_wait: float) -> None:
        """Spend one unit, waiting for room per the rules above.

        ``max_wait`` is what is left of the caller's deadline, in seconds.
        Raises ``BudgetExhaustedError`` when no room comes in time.
        """
        wait = max_wait if priority == "background" else min(max_wait, self.max_user_wait)
        give_up_at = time.monotonic() + wait
        while True:
            room_in = await self._try_take(priority)
            if room_in is None:
                return
            if time.monotonic() + room_in > give_up_at:
                raise BudgetExhaustedError(
                    self.name,
                    f"outbound budget {self.limit} has no room for a {priority} call "
                    f"within {max(wait, 0.0):.2f}s",
                )
            await asyncio.sleep(room_in)

    async def _try_take(self, priority: Priority) -> float | None:
        """Take one unit (``None``), or say in how many seconds to look again."""
        if self._memory is None:
            raise NotReadyError(
                f"outbound budget {self.name!r} used before open(); "
                "open it (or the UpstreamClient that owns it) first"
            )
        if self._redis is not None and (
            not self._redis_down or time.monotonic() >= self._retry_redis_at
        ):
            try:
                room_in = await self._take(self._redis, priority)
            except StorageError as exc:
                self._note_redis_down(repr(exc.storage_error))
            else:
                self._note_redis_up()
                return room_in
        return await self._take(self._memory, priority)

    async def _take(self, limiter: MovingWindowRateLimiter, priority: Priority) -> float | None:
        needed = 1
        if priority == "background":
            # Room for this call plus everything kept for user calls.
            needed += self._reserved_for_users
        has_room = needed == 1 or await limiter.test(self._item, self.name, cost=needed)
        if has_room and await limiter.hit(self._item, self.name):
            return None
        stats = await limiter.get_window_stats(self._item, self.name)
        if stats.remaining >= needed:
            return _MIN_POLL_SECONDS  # freed in between: look again at once
        # The oldest unit in the window frees at reset_time; look again then.
        return max(_MIN_POLL_SECONDS, stats.reset_time - time.time())

    def _note_redis_down(self, reason: str) -> None:
        self._retry_redis_at = time.monotonic() + self.redis_retry_seconds
        if self._redis_down:
            return
        self._redis_down = True
        logger.warning(
            "outbound budget %s: Redis unreachable (%s); counting in process memory "
            "and trying Redis again every %.0fs",
            self.name,
            reason,
            self.redis_retry_seconds,
            extra={"action": "upstream_budget_redis_down", "provider": self.name},
        )

    def _note_redis_up(self) -> None:
        if not self._redis_down:
            return
        self._redis_down = False
        logger.info(
            "outbound budget %s: Redis is back; counting there again",
            self.name,
            extra={"action": "upstream_budget_redis_back", "provider": self.name},
        )


class BudgetTransport(httpx.AsyncBaseTransport):
    """Spends one unit of the budget before each request it forwards."""

    def __init__(self, inner: httpx.AsyncBaseTransport, budget: OutboundBudget) -> None:
        self._inner = inner
        self._budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ctx = CallContext.of(request)
        await self._budget.acquire(ctx.priority, max_wait=ctx.remaining())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
