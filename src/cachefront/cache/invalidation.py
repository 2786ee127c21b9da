"""Keeping memory tiers in step across processes: the message, and what a process does with it.

Every write or delete of the shared tiers (Redis, PostgreSQL) is announced on one
channel as ``(namespace, keys or prefix, origin)``; each process's listener drops what
it names from its own memory tier, except for messages it sent itself (its memory is
already right). Two carriers exist: Redis pub/sub (``invalidation_redis``) and, when
there is no Redis, PostgreSQL LISTEN/NOTIFY (``invalidation_postgres``).

Neither carrier keeps messages for a listener that is away, so a listener that
reconnects after a gap drops its whole memory tier: anything may have changed
meanwhile, and the shared tiers refill it on the next reads. A read that fetched an
entry from a shared tier just before a message arrives may still put that entry in
memory just after; it is then at most as stale as the policy already allows of
memory (its own ``fresh_until``), the same as without the message.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from cachefront.cache.memory import MemoryStore

__all__ = ["Announcer", "Invalidation", "apply_invalidation", "new_origin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Invalidation:
    """One announced change: ``keys`` of ``ns`` changed, or every key starting with ``prefix``."""

    origin: str
    ns: str
    keys: tuple[str, ...] = ()
    prefix: str | None = None

    def encode(self) -> bytes:
        body: dict[str, object] = {"o": self.origin, "n": self.ns}
        if self.prefix is not None:
            body["p"] = self.prefix
        else:
            body["k"] = list(self.keys)
        return orjson.dumps(body)

    @classmethod
    def decode(cls, data: bytes | str) -> Invalidation | None:
        """The message in ``data``, or None for anything not of its form (logged)."""
        try:
            body = orjson.loads(data)
            origin, ns = body["o"], body["n"]
            prefix = body.get("p")
            keys = tuple(body.get("k", ()))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            log.warning(
                "cache invalidation: message ignored, not of the expected form",
                extra={"action": "cache.invalidation_bad"},
            )
            return None
        if not isinstance(origin, str) or not isinstance(ns, str):
            return None
        if prefix is not None and not isinstance(prefix, str):
            return None
        if not all(isinstance(key, str) for key in keys):
            return None
        return cls(origin, ns, keys, prefix)


def new_origin() -> str:
    """This process's name on the channel: its pid and a random part (pids get reused)."""
    return f"{os.getpid()}-{secrets.token_hex(6)}"


def apply_invalidation(memory: MemoryStore, message: Invalidation, origin: str) -> int:
    """Drop what ``message`` names from ``memory`` unless ``origin`` sent it; how many."""
    if message.origin == origin:
        return 0
    if message.prefix is not None:
        return memory.discard_prefix(message.ns, message.prefix)
    return sum(memory.discard(message.ns, key) for key in message.keys)


class Announcer(Protocol):
    """What the cache calls after it wrote or deleted entries of the shared tiers."""

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    async def announce(
        self, ns: str, keys: Sequence[str] = (), *, prefix: str | None = None
    ) -> None:
        """Tell the other processes; never raises (a lost message is logged)."""
        ...
