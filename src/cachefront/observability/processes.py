"""Each process's breakers and job worker, published with an expiry, read cluster-wide.

Breakers and the worker's supervisor are in each process's memory, while the health
state they feed is one for the whole deployment (``alerts.py``). So each process's
monitor publishes them to ``process_states`` before it measures, and the checks judge
what every live process published: processes that disagree then measure the same
thing, and ``cachefront health`` (a process of its own, with no upstream) sees it too.
PostgreSQL rather than Redis: the checks already read everything else they judge
from it, the CLI needs nothing more than its URL, and a row per process every round
is nothing to it (docs/architecture.md, "Health").
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.db.queries import load_queries

__all__ = ["BreakerView", "ClusterView", "LocalState", "load_cluster"]

QUERIES = load_queries("cachefront.observability")
# A row outlives this many missed rounds before the checks forget its process.
ROUNDS_KEPT = 3


class BreakerView(Protocol):
    """What a health check reads of an upstream client."""

    @property
    def breaker_open(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the live processes published: per provider, the processes with it open."""

    processes: int = 0
    # Provider -> process ids whose breaker for it is open (empty: closed everywhere).
    breakers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Processes that run a job worker and found it down.
    workers_down: tuple[str, ...] = ()
    workers_running: int = 0


class LocalState:
    """This process's breakers and job worker, and the id it publishes them under."""

    def __init__(
        self,
        upstreams: Mapping[str, BreakerView],
        worker_running: Callable[[], bool | None] = lambda: None,
        *,
        round_seconds: float,
    ) -> None:
        self.upstreams = upstreams
        self.worker_running = worker_running
        # host:pid names the process for an operator; the suffix keeps two containers
        # that both run as pid 1 apart.
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl_seconds = ROUNDS_KEPT * round_seconds

    async def publish(self, engine: AsyncEngine) -> None:
        breakers = {name: client.breaker_open for name, client in self.upstreams.items()}
        async with engine.begin() as conn:
            await conn.execute(
                QUERIES.text("publish_process_state"),
                {
                    "process_id": self.process_id,
                    "breakers": json.dumps(breakers, sort_keys=True),
                    "worker_running": self.worker_running(),
                    "ttl": self.ttl_seconds,
                },
            )

    async def withdraw(self, engine: AsyncEngine) -> None:
        """Delete this process's row: a process that stops is not one whose worker is down."""
        async with engine.begin() as conn:
            await conn.execute(
                QUERIES.text("withdraw_process_state"), {"process_id": self.process_id}
            )


async def load_cluster(conn: AsyncConnection) -> ClusterView:
    rows = (await conn.execute(QUERIES.text("live_process_states"))).all()
    breakers: dict[str, list[str]] = {}
    down: list[str] = []
    running = 0
    for process_id, published, worker_running in rows:
        for name, is_open in dict(published).items():
            tripped = breakers.setdefault(str(name), [])
            if is_open:
                tripped.append(str(process_id))
        if worker_running is False:
            down.append(str(process_id))
        elif worker_running:
            running += 1
    return ClusterView(
        processes=len(rows),
        breakers={name: tuple(ids) for name, ids in sorted(breakers.items())},
        workers_down=tuple(down),
        workers_running=running,
    )
