"""The process's one link to Redis: its connection pool, timeouts, backoff and outage log lines.

The cache tier, its single-flight locks, the inbound limiter and every outbound budget
speak to Redis through one ``RedisLink``, built once by the composition root and handed
to each. So a process has one pool (one set of connections, one place that closes
them), one timeout policy, and one idea of whether Redis is up:

- A failed command, whoever sent it, starts an outage: the link logs ``redis.down`` once
  for the process, naming the use that noticed (``redis_use``: ``cache``,
  ``singleflight``, ``ratelimit``, ``budget:<provider>``), and every use skips Redis for
  a backoff, 1 s doubling to 5 s (``cachefront.outage.Outage``). Meanwhile the cache
  answers from memory and PostgreSQL, the limiter counts in process memory and each
  budget counts per process.
- The first command that works again ends it: one ``redis.up`` line, naming its use.

Sockets time out after ``CACHEFRONT_REDIS_SOCKET_TIMEOUT_SECONDS`` (0.25 s by default)
for every use alike: a Redis that slow is of no help to a cache read, a limit check or
a budget check, each of which has a local fallback that answers at once. redis-py's own
retries are off: they would multiply the wait on a dead server, and the backoff above
replaces them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cachefront.outage import Outage

__all__ = [
    "DEFAULT_BACKOFF_FIRST_SECONDS",
    "DEFAULT_BACKOFF_MAX_SECONDS",
    "DEFAULT_CLIENT_NAME",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_SOCKET_TIMEOUT_SECONDS",
    "RedisLink",
]

logger = logging.getLogger(__name__)

# A dead or unreachable Redis must cost a command at most this long, never seconds
# (the default of CACHEFRONT_REDIS_SOCKET_TIMEOUT_SECONDS; also the connect timeout).
DEFAULT_SOCKET_TIMEOUT_SECONDS = 0.25
# After a Redis error every use skips Redis for this long, doubling per failed retry.
DEFAULT_BACKOFF_FIRST_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 5.0
# Connections per process, all uses together. Past the bound redis-py refuses a
# command at once (an error: the uses fall back locally for the backoff) instead of
# waiting: a pool that waits (BlockingConnectionPool) takes a lock and a timeout per
# command, which cost the hot path 6% of its throughput with Redis-counted limits. The
# limiter batches its hits and the budget sends one command per upstream call, so
# nearly every connection serves a cache read; 512 is far past what a process uses.
DEFAULT_MAX_CONNECTIONS = 512
# What CLIENT LIST shows for our connections, so an operator can tell them apart.
DEFAULT_CLIENT_NAME = "cachefront"

_WITHOUT = (
    "the cache answers from memory and PostgreSQL, limits and budgets count in process memory"
)


class RedisLink:
    """One Redis client and connection pool for the process, and whether Redis answers now.

    Nothing connects until the first command; ``aclose`` closes every connection any
    use opened. The uses keep their own error handling (each knows what a failure
    means for it) and report to ``failed`` and ``succeeded`` here.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "cf",
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        backoff_first: float = DEFAULT_BACKOFF_FIRST_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        client_name: str = DEFAULT_CLIENT_NAME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``url`` is a redis-py URL (an ``async+`` prefix, as ``limits`` spells it, is
        dropped); ``prefix`` starts every key (``cachefront.redis_keys``)."""
        self.prefix = prefix
        self.pool = ConnectionPool.from_url(
            url.removeprefix("async+"),
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=client_name,
        )
        # Clients built over this pool (ours, and the one ``limits`` builds for the
        # budgets) take its retry policy and its connections.
        self.client = Redis(connection_pool=self.pool)
        self._outage = Outage(
            "redis",
            label="Redis",
            without=_WITHOUT,
            backoff_first=backoff_first,
            backoff_max=backoff_max,
            logger=logger,
            clock=clock,
            down_action="redis.down",
            up_action="redis.up",
        )
        self._uses: set[str] = set()

    def register(self, use: str) -> Redis:
        """Record ``use`` as a user of the link (see ``uses``); the shared client."""
        self._uses.add(use)
        return self.client

    @property
    def uses(self) -> frozenset[str]:
        """The names of the uses handed this link (``cache``, ``ratelimit``, ...)."""
        return frozenset(self._uses)

    @property
    def available(self) -> bool:
        """False while every use skips Redis after an error (the backoff has not passed)."""
        return self._outage.available

    @property
    def down(self) -> bool:
        """True from a failed command until a command succeeds again."""
        return self._outage.down

    def failed(self, use: str, command: str, exc: BaseException | str) -> None:
        """Note that ``command`` of ``use`` failed: starts the outage, or lengthens it."""
        self._outage.failed(command, exc, redis_use=use)

    def succeeded(self, use: str) -> None:
        """Note that a command of ``use`` worked; ends the outage if one was going on."""
        if self._outage.down:
            self._outage.succeeded(redis_use=use)

    async def aclose(self) -> None:
        """Close every connection of the pool (a later command would open new ones)."""
        await self.client.aclose()
        await self.pool.aclose()
