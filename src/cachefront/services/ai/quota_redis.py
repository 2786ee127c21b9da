"""Per-caller quota counters in Redis: a hold is one Lua script, atomic across processes.

Every server of a deployment runs the same script on the same two keys (the caller's
tokens of the UTC day, its requests of the minute), and Redis runs scripts one at a
time, so together they never admit past a limit: the check and the increment are one
step. Settling adds what the call used minus what it held, without a round trip of its
own (``settle_backlog.py``): the caller's next hold applies it in its script before it
checks, or it goes with every other waiting one in one script. A day's counter that does
not exist yet (the first call of the day, or a Redis that lost its data) is seeded from
the PostgreSQL ledger before the hold, so a restarted Redis does not hand out the day
again; what the processes have not flushed to the ledger yet (at most a flush interval)
is then not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from redis.asyncio import Redis

from cachefront.redis_keys import quota_key
from cachefront.services.ai.quota_headers import minute_of
from cachefront.services.ai.quota_postgres import Held
from cachefront.services.ai.settle_backlog import SettleBacklog

__all__ = ["RedisCounters", "Seed"]

# Keys outlive their window a little, so a clock a few seconds off still finds them.
_MARGIN_MS = 120_000

# KEYS: day tokens, minute requests. ARGV: tokens, day limit, minute limit, minute TTL,
# the caller's settled difference not sent yet (applied first, never below zero).
# Answers {admitted 1/0, day tokens, minute requests}, or {-1, 0, 0}: seed the day first
# (the difference then was not applied).
_HOLD = """
local day = redis.call('get', KEYS[1])
if not day then return {-1, 0, 0} end
day = tonumber(day)
local settled = tonumber(ARGV[5])
if settled ~= 0 then
  day = math.max(day + settled, 0)
  redis.call('set', KEYS[1], day, 'KEEPTTL')
end
local minute = tonumber(redis.call('get', KEYS[2]) or '0')
local tokens = tonumber(ARGV[1])
if day + tokens > tonumber(ARGV[2]) or minute + 1 > tonumber(ARGV[3]) then
  return {0, day, minute}
end
day = redis.call('incrby', KEYS[1], tokens)
minute = redis.call('incr', KEYS[2])
if minute == 1 then redis.call('pexpire', KEYS[2], ARGV[4]) end
return {1, day, minute}
"""

# KEYS: day tokens of several callers. ARGV: for each, what its calls used minus what
# they held. Never below zero; a day whose key is gone (expired, lost) is left alone.
_SETTLE = """
for i, key in ipairs(KEYS) do
  if redis.call('exists', key) == 1 then
    local now = redis.call('incrby', key, ARGV[i])
    if now < 0 then redis.call('set', key, 0, 'KEEPTTL') end
  end
end
return 1
"""

# The tokens a caller used on a day, from the ledger: what a new day's counter starts at.
Seed = Callable[[str, date], Awaitable[int]]


def _day_window(day: date) -> str:
    return "d" + day.strftime("%Y%m%d")


def _minute_window(now: datetime) -> str:
    return "m" + minute_of(now).strftime("%Y%m%d%H%M")


def _ms_to_next_day(now: datetime) -> int:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    return int((midnight - now).total_seconds() * 1000) + _MARGIN_MS


class RedisCounters:
    """Holds, settles and reads each caller's counters in Redis (raises RedisError)."""

    name = "redis"

    def __init__(self, redis: Redis, *, prefix: str, ns: str, seed: Seed) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ns = ns
        self._seed = seed
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._hold = redis.register_script(_HOLD)
        self._settle = redis.register_script(_SETTLE)
        self._backlog: SettleBacklog[str] = SettleBacklog(self._send_settled, store="redis")

    def _keys(self, owner: str, now: datetime) -> list[str]:
        return [
            quota_key(self._prefix, self._ns, owner, _day_window(now.date())),
            quota_key(self._prefix, self._ns, owner, _minute_window(now)),
        ]

    async def hold(
        self, owner: str, now: datetime, tokens: int, day_limit: int, minute_limit: int
    ) -> Held:
        keys = self._keys(owner, now)
        args = [tokens, day_limit, minute_limit, 60_000 + _MARGIN_MS]
        answer = await self._held(keys, args)
        if int(answer[0]) < 0:
            await self._seeded(keys[0], owner, now)
            answer = await self._held(keys, args)
        return Held(int(answer[0]) == 1, int(answer[1]), int(answer[2]))

    async def _held(self, keys: list[str], args: list[int]) -> list[int]:
        settled = self._backlog.take(keys[0])
        try:
            answer: list[int] = await self._hold(keys=keys, args=[*args, settled])
        except BaseException:
            self._backlog.owe(keys[0], settled)  # not applied: it goes with the next one
            raise
        if int(answer[0]) < 0:
            self._backlog.owe(keys[0], settled)  # no day key yet: applied once seeded
        return answer

    async def _seeded(self, key: str, owner: str, now: datetime) -> None:
        # The first calls of a caller's day arrive together: one ledger read for all
        # of them in this process.
        seeding = self._seeding.get(key)
        if seeding is None:
            seeding = asyncio.ensure_future(self._seed_day(key, owner, now))
            self._seeding[key] = seeding
            seeding.add_done_callback(lambda _: self._seeding.pop(key, None))
        await asyncio.shield(seeding)

    async def _seed_day(self, key: str, owner: str, now: datetime) -> None:
        used = await self._seed(owner, now.date())
        # NX: another process may have seeded it meanwhile, and holds since.
        await self._redis.set(key, used, nx=True, px=_ms_to_next_day(now))

    async def settle(self, owner: str, day: date, reserved: int, used: int) -> None:
        if used != reserved:
            key = quota_key(self._prefix, self._ns, owner, _day_window(day))
            self._backlog.owe(key, used - reserved)

    async def _send_settled(self, waiting: dict[str, int]) -> None:
        await self._settle(keys=list(waiting), args=list(waiting.values()))

    async def send_settled(self) -> None:
        """Send every settled difference waiting, now."""
        await self._backlog.send_all()

    async def read(self, owner: str, now: datetime) -> tuple[int, int]:
        keys = self._keys(owner, now)
        day, minute = await self._redis.mget(keys)
        if day is None:
            return 0, int(minute or 0)
        return max(int(day) + self._backlog.unsent(keys[0]), 0), int(minute or 0)

    async def aclose(self) -> None:
        await self._backlog.aclose()
        await self._redis.aclose()
