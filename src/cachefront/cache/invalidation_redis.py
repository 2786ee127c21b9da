"""Memory tiers kept in step over Redis pub/sub: one channel, one listener per process.

Publishing goes through the process's Redis link (its timeouts and outage state); the
listener holds one connection of the link's pool for its subscription. When the
subscription breaks (Redis restarted, a network gap) the listener comes back after a
short pause and, since messages sent meanwhile are lost, drops the whole memory tier
first (``cachefront.cache.invalidation`` says why that is enough).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from cachefront.cache.invalidation import Invalidation, apply_invalidation, new_origin
from cachefront.cache.memory import MemoryStore
from cachefront.redis_keys import invalidation_channel
from cachefront.redis_link import RedisLink

__all__ = ["RedisAnnouncer"]

log = logging.getLogger(__name__)

# How the Redis link's log lines name the announcer's commands.
REDIS_USE = "invalidation"
# How long one wait for a message lasts before the listener looks again; also what a
# process waits at start for its subscription, so it is listening once ready.
_POLL_SECONDS = 1.0
# The pause before subscribing again after the subscription broke.
_RETRY_SECONDS = 0.5


class RedisAnnouncer:
    """Publishes this process's changes and applies the others' to ``memory``."""

    def __init__(self, link: RedisLink, memory: MemoryStore) -> None:
        self._link = link
        self._client = link.register(REDIS_USE)
        self._memory = memory
        self._channel = invalidation_channel(link.prefix)
        self.origin = new_origin()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        # Counts for tests and logs: messages applied, memory tiers dropped after a gap.
        self.applied = 0
        self.resyncs = 0

    async def open(self) -> None:
        if self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen())
        # Bounded: a Redis that is down at start must not hold the process back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), _POLL_SECONDS)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def announce(
        self, ns: str, keys: Sequence[str] = (), *, prefix: str | None = None
    ) -> None:
        if not self._link.available or (prefix is None and not keys):
            return
        payload = Invalidation(self.origin, ns, tuple(keys), prefix).encode()
        try:
            try:
                await self._client.publish(self._channel, payload)
            except RedisConnectionError:
                # A pooled connection that a Redis restart closed fails once and is
                # dropped; a message matters enough to try again on a fresh one.
                await self._client.publish(self._channel, payload)
        except RedisError as exc:
            # The others' copies then live until their own fresh_until, as without
            # any message; the link logs the outage.
            self._link.failed(REDIS_USE, "publish", exc)
        else:
            self._link.succeeded(REDIS_USE)

    async def _listen(self) -> None:
        listened = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if listened:
                    # Whatever was announced during the gap is lost: drop it all.
                    self._memory.clear()
                    self.resyncs += 1
                    log.info(
                        "cache invalidation: listening again; memory tier dropped",
                        extra={"action": "cache.invalidation_resync"},
                    )
                listened = True
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=_POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                self._link.failed(REDIS_USE, "subscribe", exc)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(_RETRY_SECONDS)

    def _apply(self, data: bytes) -> None:
        message = Invalidation.decode(data)
        if message is not None and apply_invalidation(self._memory, message, self.origin):
            self.applied += 1
