"""Coalescing across processes: one leader per answer in Redis, its chunks in a Redis stream.

The first process to take the flight's lock (``SET NX PX``) is the leader: it calls
the provider and appends each payload to a stream named after its flight id, then an
end entry (``ok``, or the error every follower gets). Another process that wants the
same answer meanwhile finds the lock taken, reads the id from it and relays the
stream from its first entry into a local flight, so its callers get the chunks already
sent, then the live ones. Redis trouble is never the caller's problem: the process
then goes it alone (one call per process), as the cache does without Redis.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cachefront.redis_keys import flight_chunks_key, flight_lock_key
from cachefront.services.ai.flight import FlightError

__all__ = ["BLOCK_MS", "Lease", "SharedFlights"]

log = logging.getLogger(__name__)

# A follower's wait for the next entry: short, so a leader that vanished is noticed.
BLOCK_MS = 1000
# How long a finished flight's chunks stay readable for followers arriving late.
_KEEP_SECONDS = 60

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


# One stream entry's fields as redis-py returns them (bytes, no decoding).
Fields = dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Lease:
    """This process's part in one shared flight: leader (it calls) or follower."""

    key: str
    flight_id: str
    leader: bool
    chunks_key: str


class SharedFlights:
    """Leader election and chunk relay for flights, over one Redis client."""

    def __init__(
        self, redis: Redis, reader: Redis, *, prefix: str, ns: str, lock_seconds: float
    ) -> None:
        """``reader`` serves the blocking reads of followers: its socket timeout must
        outlast ``BLOCK_MS``; ``redis`` keeps the platform's short one for the rest."""
        self._redis = redis
        self._reader = reader
        self._prefix = prefix
        self._ns = ns
        self._lock_ms = int(lock_seconds * 1000)
        self._unlock = redis.register_script(_UNLOCK)

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._reader.aclose()

    async def lease(self, key: str, deadline_at: float) -> Lease | None:
        """Lead or follow the flight of ``key``; None when Redis does not answer."""
        lock = flight_lock_key(self._prefix, self._ns, key)
        mine = secrets.token_hex(8)
        try:
            while time.monotonic() < deadline_at:
                if await self._redis.set(lock, mine, nx=True, px=self._lock_ms):
                    return Lease(key, mine, True, self._chunks(key, mine))
                holder = await self._redis.get(lock)
                if holder is not None:
                    flight_id = holder.decode() if isinstance(holder, bytes) else str(holder)
                    return Lease(key, flight_id, False, self._chunks(key, flight_id))
                # The holder let go between our two commands: try to lead again.
        except RedisError as exc:
            log.warning(
                "ai flights: Redis unavailable, coalescing in this process only: %s",
                type(exc).__name__,
                extra={"action": "ai.flight_redis_down"},
            )
            return None
        raise FlightError(504, "no answer within the deadline")

    def _chunks(self, key: str, flight_id: str) -> str:
        return flight_chunks_key(self._prefix, self._ns, key, flight_id)

    async def publish(self, lease: Lease, payload: bytes) -> bool:
        """Append a payload; False when Redis failed (followers will time out)."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(lease.chunks_key, {"d": payload})
            pipe.expire(lease.chunks_key, _KEEP_SECONDS)
            await pipe.execute()
        except RedisError:
            return False
        return True

    async def finish(self, lease: Lease, error: FlightError | None) -> None:
        """Append the end entry and let go of the lock (only if still ours)."""
        fields: dict[str, str | int] = {"end": "ok"}
        if error is not None:
            fields = {"end": "error", "status": error.status, "message": error.message}
            if error.retry_after is not None:
                fields["retry_after"] = error.retry_after
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(lease.chunks_key, fields)  # type: ignore[arg-type]
            pipe.expire(lease.chunks_key, _KEEP_SECONDS)
            await pipe.execute()
            await self._unlock(
                keys=[flight_lock_key(self._prefix, self._ns, lease.key)], args=[lease.flight_id]
            )
        except RedisError:
            pass  # the lock expires on its own; followers time out into an error

    async def relay(self, lease: Lease, deadline_at: float) -> AsyncIterator[bytes]:
        """The leader's payloads from the first; raises the leader's error, or 504/503."""
        last = "0-0"
        lock = flight_lock_key(self._prefix, self._ns, lease.key)
        while True:
            if time.monotonic() >= deadline_at:
                raise FlightError(504, "the shared provider call did not finish in time")
            try:
                answer = await self._reader.xread({lease.chunks_key: last}, block=BLOCK_MS)
            except RedisError as exc:
                raise FlightError(
                    503, "lost the shared provider call (Redis unavailable)", retry_after=1
                ) from exc
            if not answer:
                # Nothing new: the leader may be slow, or gone (its lock expired).
                holder = await self._redis.get(lock)
                if holder is None or _text(holder) != lease.flight_id:
                    exists = await self._redis.exists(lease.chunks_key)
                    if not exists:
                        raise FlightError(
                            503, "the process making the provider call stopped", retry_after=1
                        )
                continue
            for _stream, entries in cast(list[tuple[bytes, list[tuple[bytes, Fields]]]], answer):
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    data = fields.get(b"d")
                    if data is not None:
                        yield bytes(data)
                        continue
                    if fields.get(b"end") == b"ok":
                        return
                    retry = fields.get(b"retry_after")
                    raise FlightError(
                        int(fields.get(b"status", b"503")),
                        _text(fields.get(b"message", b"the provider call failed")),
                        retry_after=int(retry) if retry is not None else None,
                    )
            await asyncio.sleep(0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
