"""Outbound budget: how many units per interval one provider may receive from all processes.

The budget is a moving-window limit in the ``limits`` notation ("60/minute"), counted
in Redis when the process's Redis link (``cachefront.redis_link``) is given, so every
cachefront process spends from one budget, and in process memory otherwise. Every
attempt spends the call's ``cost`` (1 unless the caller says otherwise: a request
weight, tokens), retries included, because every attempt is a request the upstream
counts. A cost larger than the whole limit can never be admitted and is refused at
once (``ValueError``).

Background work yields to user-facing misses: with ``background_share`` ``s`` and a
limit of ``N`` per window, a background call of cost ``c`` is admitted only while at
least ``N - floor(s * N)`` units would remain for user calls after it (at least one
unit always goes to background, so it never starves outright; a background call
costing more than ``floor(s * N)`` can never be admitted and fails at once). A user
call may use the whole budget. With no room, a user call waits up to
``min(deadline, max_user_wait)`` and a background call up to its deadline, then
``BudgetExhaustedError``; a call that cannot expect room before then fails at once
instead of sleeping in vain.

What the upstream answers feeds back (``ServerSignals``, see ``upstream/signals.py``):

- A usage header (e.g. a per-minute weight) raises the budget's count to at least the
  units the upstream reports as used, never lowers it, in Redis when shared, so another
  client on our address slows us down too. The raise is best effort: units spent by
  other processes between our read and our write may leave the count a little above
  the report, never below what we counted ourselves.
- A response with a hold status and ``Retry-After`` puts the upstream on hold
  (``upstream/hold.py``), shared through Redis. While on hold no request leaves: a
  user call fails at once with ``BudgetExhaustedError`` (so the service serves stale
  or a fallback), a background call waits for the end if its deadline reaches past it
  and fails at once otherwise. Held calls spend nothing.

In Redis a user call usually spends from a lease (``upstream/budget_lease.py``): a
block of units the process took ahead in one round trip, sized from its own spend rate,
so a steady stream of calls waits on Redis about once a second instead of once a call.
The shared count then runs over a window one second longer than the limit's, which is
what keeps leased units within the limit in every window. Background calls, the first
calls of a process, slow streams and small budgets spend exactly.

When Redis stops answering, the budget keeps counting in process memory while the
link backs off (the link logs the outage, once per process) and goes back to Redis
when it answers again, so a Redis outage slows nothing down; each process then spends
its own copy of the budget until Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import httpx
import limits
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from cachefront.errors import BudgetExhaustedError, ConfigurationError, NotReadyError
from cachefront.lifecycle import AsyncResource
from cachefront.redis_keys import budget_key_prefix
from cachefront.redis_link import RedisLink
from cachefront.upstream._context import CallContext, Priority
from cachefront.upstream.budget_lease import BudgetLease, lease_cap, shared_window
from cachefront.upstream.budget_window import MemoryMovingWindow
from cachefront.upstream.hold import UpstreamHold
from cachefront.upstream.signals import NO_SIGNALS, ServerSignals

__all__ = [
    "DEFAULT_BACKGROUND_SHARE",
    "DEFAULT_MAX_USER_WAIT_SECONDS",
    "BudgetTransport",
    "OutboundBudget",
]

logger = logging.getLogger(__name__)

DEFAULT_BACKGROUND_SHARE = 0.5
DEFAULT_MAX_USER_WAIT_SECONDS = 2.0

# Floor of the sleep between two looks at a full window, so waiters never spin.
_MIN_POLL_SECONDS = 0.01
# ``limits`` picks its Redis driver from the URI scheme; with a connection pool handed
# in, the rest of the URI is never used, so no address or password needs repeating.
_LIMITS_URI = "async+redis://"

# The two counts answer the same three calls with the same meaning.
_Count = MovingWindowRateLimiter | MemoryMovingWindow


class OutboundBudget(AsyncResource):
    """One provider's outbound call budget, shared through Redis when one is configured."""

    def __init__(
        self,
        limit: str,
        *,
        name: str,
        background_share: float = DEFAULT_BACKGROUND_SHARE,
        redis_link: RedisLink | None = None,
        max_user_wait: float = DEFAULT_MAX_USER_WAIT_SECONDS,
        signals: ServerSignals = NO_SIGNALS,
    ) -> None:
        """Counts in Redis through ``redis_link`` (the process's link, which the budget
        does not close) when given, else in process memory; ``signals`` says which
        response headers and statuses correct the count or put the upstream on hold."""
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
        self.signals = signals
        amount = self._item.amount
        self.amount = amount
        self.background_amount = max(1, math.floor(amount * background_share))
        self._reserved_for_users = amount - self.background_amount
        window = self._item.get_expiry()
        self._lease = BudgetLease(lease_cap(amount, window))
        # The Redis count's window: longer than the limit's when units are leased.
        self._shared_item: limits.RateLimitItem = (
            self._item
            if not self._lease.cap
            else limits.RateLimitItemPerSecond(amount, shared_window(window, self._lease.cap))
        )
        self._link = redis_link
        # How the link's log lines name this budget's commands.
        self.redis_use = f"budget:{name}"
        self._memory: MemoryMovingWindow | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self.hold = UpstreamHold(name, redis_link=redis_link, redis_use=self.redis_use)

    # --- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        """Create the storages; a Redis that does not answer only means memory for now."""
        if self._memory is not None:
            return
        self._memory = MemoryMovingWindow()
        link = self._link
        if link is None:
            return
        link.register(self.redis_use)
        # limits types its options as scalars; the pool is passed through to redis-py,
        # so the budget's commands go over the link's connections.
        options: dict[str, Any] = {"connection_pool": link.pool}
        storage = RedisStorage(
            _LIMITS_URI,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=budget_key_prefix(link.prefix),
            **options,
        )
        self._redis = MovingWindowRateLimiter(storage)
        if link.available:
            if await storage.check():
                link.succeeded(self.redis_use)
            else:
                link.failed(self.redis_use, "ping", "no answer to PING")

    async def aclose(self) -> None:
        """Drop the storages; the link itself stays open for its other uses."""
        self._redis = None
        self._memory = None

    @property
    def using_redis(self) -> bool:
        """True when the budget is counted in Redis right now (not in memory)."""
        return self._redis is not None and self._link is not None and not self._link.down

    # --- spending -----------------------------------------------------------------

    def check_cost(self, cost: int) -> None:
        """Refuse at once a cost this budget could never admit (``ValueError``)."""
        if cost < 1:
            raise ValueError(f"outbound budget {self.name!r}: cost must be at least 1, got {cost}")
        if cost > self.amount:
            raise ValueError(
                f"outbound budget {self.name!r}: a call costing {cost} can never fit "
                f"in the whole budget of {self.limit}"
            )

    async def acquire(self, priority: Priority, *, max_wait: float, cost: int = 1) -> None:
        """Spend ``cost`` units, waiting for room (and for a hold to end) per the rules above.

        ``max_wait`` is what is left of the caller's deadline, in seconds.
        Raises ``BudgetExhaustedError`` when no room comes in time or the upstream is on
        hold, ``ValueError`` for a cost larger than the whole limit.
        """
        self.check_cost(cost)
        if priority == "background" and cost > self.background_amount:
            raise BudgetExhaustedError(
                self.name,
                f"a background call costing {cost} can never fit in the background share "
                f"({self.background_amount} of {self.limit})",
            )
        wait = max_wait if priority == "background" else min(max_wait, self.max_user_wait)
        give_up_at = time.monotonic() + wait
        while True:
            held_for = await self._held_for()
            if held_for > 0:
                if priority == "user" or time.monotonic() + held_for > give_up_at:
                    raise BudgetExhaustedError(
                        self.name, f"upstream on hold for another {held_for:.2f}s, not called"
                    )
                await asyncio.sleep(held_for)
                continue
            room_in = await self._try_take(priority, cost)
            if room_in is None:
                return
            if time.monotonic() + room_in > give_up_at:
                raise BudgetExhaustedError(
                    self.name,
                    f"outbound budget {self.limit} has no room for a {priority} call "
                    f"costing {cost} within {max(wait, 0.0):.2f}s",
                )
            await asyncio.sleep(room_in)

    async def _held_for(self) -> float:
        if self._memory is None:
            raise NotReadyError(
                f"outbound budget {self.name!r} used before open(); "
                "open it (or the UpstreamClient that owns it) first"
            )
        if not self.signals.hold_statuses:
            # Every process builds this upstream's budget from the same spec: with no
            # hold statuses no process ever starts a hold, so no Redis read is owed.
            return 0.0
        return await self.hold.remaining()

    # --- what the upstream answered -----------------------------------------------

    async def observe(self, response: httpx.Response) -> bool:
        """Apply what ``response`` says (usage, hold); True when it put the upstream on hold."""
        used = self.signals.reported_usage(response, self.amount)
        if used is not None:
            await self.record_usage(used)
        seconds = self.signals.hold_seconds(response)
        if seconds is None:
            return False
        await self.hold.start(seconds, status=response.status_code)
        return True

    async def record_usage(self, used: int) -> None:
        """Raise the count of the current window to at least ``used`` units (never lower it)."""
        target = min(used, self.amount)
        if self._memory is None or target <= 0:
            return
        link = self._link
        if self._redis is not None and link is not None and link.available:
            try:
                await self._raise_to(self._redis, self._shared_item, target)
            except StorageError as exc:
                link.failed(self.redis_use, "usage", exc.storage_error)
            else:
                link.succeeded(self.redis_use)
                return
        await self._raise_to(self._memory, self._item, target)

    async def _raise_to(self, limiter: _Count, item: limits.RateLimitItem, target: int) -> None:
        stats = await limiter.get_window_stats(item, self.name)
        counted = self.amount - stats.remaining
        if target > counted:
            # Refused only when others spent in between, which raised the count anyway.
            await limiter.hit(item, self.name, cost=target - counted)

    async def _try_take(self, priority: Priority, cost: int) -> float | None:
        """Take ``cost`` units (``None``), or say in how many seconds to look again."""
        if self._memory is None:
            raise NotReadyError(
                f"outbound budget {self.name!r} used before open(); "
                "open it (or the UpstreamClient that owns it) first"
            )
        link = self._link
        if self._redis is not None and link is not None and link.available:
            lease = self._lease
            if priority == "user" and lease.spend(cost):
                return None
            try:
                if priority == "user" and await self._take_block(self._redis, cost):
                    room_in = None
                else:
                    room_in = await self._take(self._redis, self._shared_item, priority, cost)
            except StorageError as exc:
                link.failed(self.redis_use, "acquire", exc.storage_error)
            else:
                link.succeeded(self.redis_use)
                if room_in is None and priority == "user":
                    lease.note_spent(cost)
                return room_in
        return await self._take(self._memory, self._item, priority, cost)

    async def _take_block(self, limiter: MovingWindowRateLimiter, cost: int) -> bool:
        """Take a block of units for this call and the next ones; False: spend exactly."""
        lease = self._lease
        block = lease.next_block(cost)
        if block == cost or lease.taking:
            return False
        lease.taking = True
        try:
            if not await limiter.hit(self._shared_item, self.name, cost=block):
                return False  # no room for a whole block: near the limit, count exactly
        finally:
            lease.taking = False
        lease.grant(block, cost)
        return True

    async def _take(
        self,
        limiter: _Count,
        item: limits.RateLimitItem,
        priority: Priority,
        cost: int,
    ) -> float | None:
        needed = cost
        if priority == "background":
            # Room for this call plus everything kept for user calls.
            needed += self._reserved_for_users
        has_room = needed == cost or await limiter.test(item, self.name, cost=needed)
        if has_room and await limiter.hit(item, self.name, cost=cost):
            return None
        stats = await limiter.get_window_stats(item, self.name)
        if stats.remaining >= needed:
            return _MIN_POLL_SECONDS  # freed in between: look again at once
        # The oldest unit in the window frees at reset_time; look again then.
        return max(_MIN_POLL_SECONDS, stats.reset_time - time.time())


class BudgetTransport(httpx.AsyncBaseTransport):
    """Spends the call's cost before each request it forwards; feeds each answer back.

    Sets ``CallContext.held`` when the answer put the upstream on hold, for the retries.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, budget: OutboundBudget) -> None:
        self._inner = inner
        self._budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ctx = CallContext.of(request)
        ctx.held = False
        await self._budget.acquire(ctx.priority, max_wait=ctx.remaining(), cost=ctx.cost)
        response = await self._inner.handle_async_request(request)
        ctx.held = await self._budget.observe(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
