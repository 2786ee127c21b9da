"""The Redis tier and the Redis single-flight locks, degrading to "miss" while Redis is away.

Every Redis error becomes a miss or a no-op, reported to the process's Redis link
(``cachefront.redis_link``), which logs the outage once and has every use skip Redis
for a backoff. The link's sockets time out quickly and never retry a command, so a
dead Redis costs a request at most one short timeout.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from redis.exceptions import RedisError

from cachefront.cache.entry import CacheEntry
from cachefront.redis_keys import ENTRY_FORMAT_V1, cache_key, cache_key_pattern, lock_key
from cachefront.redis_link import RedisLink

__all__ = ["CACHE_USE", "LOCK_USE", "RedisStore", "pack_entry", "unpack_entry"]

# How the link's log lines name the commands of this module.
CACHE_USE = "cache"
LOCK_USE = "singleflight"

_T = TypeVar("_T")

# Value layout (ENTRY_FORMAT_V1), network byte order:
#   format:u8  stored_at:f64  fresh_until:f64  expires_at:f64  flags:u8  etag_len:u8
#   etag:etag_len bytes (ASCII)  payload:rest
# flags bit 0: negative entry.
_HEADER = struct.Struct("!BdddBB")
_NEGATIVE = 0x01

# Deletes each lock only if it still holds the caller's token: a holder whose lock
# expired must not delete the lock a newer holder took since.
_UNLOCK_LUA = """
local removed = 0
for _, name in ipairs(KEYS) do
  if redis.call('GET', name) == ARGV[1] then
    removed = removed + redis.call('DEL', name)
  end
end
return removed
"""

_DELETE_BATCH = 500


def pack_entry(entry: CacheEntry) -> bytes:
    """The Redis value of ``entry``: a compact binary header, then the payload."""
    etag = entry.etag.encode("ascii")
    header = _HEADER.pack(
        ENTRY_FORMAT_V1,
        entry.stored_at,
        entry.fresh_until,
        entry.expires_at,
        _NEGATIVE if entry.negative else 0,
        len(etag),
    )
    return b"".join((header, etag, entry.value))


def unpack_entry(data: bytes) -> CacheEntry | None:
    """The entry in a Redis value, or None when it is not a value this code wrote."""
    if len(data) < _HEADER.size or data[0] != ENTRY_FORMAT_V1:
        return None
    _, stored_at, fresh_until, expires_at, flags, etag_len = _HEADER.unpack_from(data)
    start = _HEADER.size + etag_len
    if len(data) < start:
        return None
    return CacheEntry(
        value=data[start:],
        etag=data[_HEADER.size : start].decode("ascii"),
        stored_at=stored_at,
        fresh_until=fresh_until,
        expires_at=expires_at,
        negative=bool(flags & _NEGATIVE),
    )


class RedisStore:
    """Entries and single-flight locks in one Redis, under ``{prefix}:v1:``."""

    def __init__(self, link: RedisLink, *, clock: Callable[[], float] = time.time) -> None:
        """``link`` is the process's Redis link, closed by whoever built it."""
        self._link = link
        link.register(LOCK_USE)
        self._client = link.register(CACHE_USE)
        self.prefix = link.prefix
        self._clock = clock
        self._unlock = self._client.register_script(_UNLOCK_LUA)

    @property
    def available(self) -> bool:
        """False while Redis is skipped after an error (the backoff has not passed)."""
        return self._link.available

    @property
    def down(self) -> bool:
        """True from a failed command until a command succeeds again."""
        return self._link.down

    async def aclose(self) -> None:
        """Nothing to close: the link belongs to the composition root, which closes it."""

    async def ping(self) -> bool:
        """Whether Redis answers now (a failed ping starts an outage like any error)."""
        return await self._call("ping", self._client.ping, False)

    # --- entries ----------------------------------------------------------------

    async def get(self, ns: str, key: str) -> CacheEntry | None:
        data = await self._call("get", lambda: self._client.get(self._key(ns, key)), None)
        return unpack_entry(data) if isinstance(data, bytes) else None

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        if not keys:
            return {}
        names = [self._key(ns, key) for key in keys]
        values = await self._call("get_many", lambda: self._client.mget(names), None)
        found: dict[str, CacheEntry] = {}
        for key, data in zip(keys, values or (), strict=False):
            entry = unpack_entry(data) if isinstance(data, bytes) else None
            if entry is not None:
                found[key] = entry
        return found

    async def set(self, ns: str, key: str, entry: CacheEntry) -> None:
        await self.set_many(ns, {key: entry})

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        now = self._clock()
        # Redis expires each key when it could no longer be served at all.
        items = [
            (self._key(ns, key), pack_entry(entry), int((entry.expires_at - now) * 1000))
            for key, entry in entries.items()
        ]
        items = [item for item in items if item[2] > 0]
        if not items:
            return

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for name, data, ttl_ms in items:
                    pipe.set(name, data, px=ttl_ms)
                await pipe.execute()

        await self._call("set_many", write, None)

    async def delete(self, ns: str, key: str) -> int:
        removed = await self._call("delete", lambda: self._client.unlink(self._key(ns, key)), 0)
        return int(removed)

    async def delete_prefix(self, ns: str, prefix: str = "") -> int:
        pattern = cache_key_pattern(self.prefix, ns, prefix)

        async def scan_and_unlink() -> int:
            removed = 0
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= _DELETE_BATCH:
                    removed += int(await self._client.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(await self._client.unlink(*batch))
            return removed

        return await self._call("delete_prefix", scan_and_unlink, 0)

    # --- single-flight locks ----------------------------------------------------------

    async def try_lock_many(
        self, ns: str, keys: Sequence[str], token: str, ttl_seconds: float
    ) -> frozenset[str] | None:
        """Take the locks of ``keys`` that are free; the keys taken, or None without Redis."""
        if not keys:
            return frozenset()
        ttl_ms = max(1, int(ttl_seconds * 1000))

        async def lock() -> list[object]:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._lock(ns, key), token, nx=True, px=ttl_ms)
                return list(await pipe.execute())

        replies = await self._call("lock", lock, None, use=LOCK_USE)
        if replies is None:
            return None
        return frozenset(key for key, taken in zip(keys, replies, strict=True) if taken)

    async def unlock_many(self, ns: str, keys: Sequence[str], token: str) -> None:
        """Release the locks of ``keys`` that still hold ``token``."""
        if keys:
            names = [self._lock(ns, key) for key in keys]
            await self._call(
                "unlock", lambda: self._unlock(keys=names, args=[token]), None, use=LOCK_USE
            )

    async def held_locks(self, ns: str, keys: Sequence[str]) -> frozenset[str] | None:
        """The keys whose lock someone holds now, or None without Redis."""
        if not keys:
            return frozenset()
        names = [self._lock(ns, key) for key in keys]
        tokens = await self._call(
            "held_locks", lambda: self._client.mget(names), None, use=LOCK_USE
        )
        if tokens is None:
            return None
        return frozenset(key for key, token in zip(keys, tokens, strict=True) if token is not None)

    # --- internals ---------------------------------------------------------------

    def _key(self, ns: str, key: str) -> str:
        return cache_key(self.prefix, ns, key)

    def _lock(self, ns: str, key: str) -> str:
        return lock_key(self.prefix, ns, key)

    async def _call(
        self,
        action: str,
        op: Callable[[], Awaitable[_T]],
        default: _T,
        *,
        use: str = CACHE_USE,
    ) -> _T:
        link = self._link
        if not link.available:
            return default
        try:
            result = await op()
        except (RedisError, OSError) as exc:
            link.failed(use, action, exc)
            return default
        link.succeeded(use)
        return result
