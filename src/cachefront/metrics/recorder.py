"""Buffers request and upstream-call records in memory and flushes them to PostgreSQL in batches.

Recording is a list append, so the hot path never waits on the database. Hot-path
hits (``hit``: fresh memory answers of the fast and direct paths, most of the
traffic) are cheaper still: they are folded in memory into counts per minute,
route, status and latency bucket, and a flush writes those few rows into the rollups
and histograms instead of a raw row per hit. Only the hits a raw row is worth
keeping for go to the raw table as well: slow ones (``SLOW_HIT_MS`` and over) and
one in ``RAW_HIT_EVERY`` as a sample. Every figure read from the rollups is the same
either way; the raw table then holds every other request (misses, errors, routed
answers) but only that sample of hot-path hits. A
background task flushes every ``flush_seconds``, writing the raw rows and adding them
to the per-minute and per-hour rollups in the same statement; when the database is unreachable
the records stay buffered (up to ``buffer_max``, oldest dropped first) and go out
with the next successful flush. An outage is logged once when it starts and once
when it ends (with how many flushes failed), not on every flush in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, Protocol

import psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.flush_loop import FlushLoop
from cachefront.metrics.buckets import bucket_of, bucket_value
from cachefront.metrics.context import note_upstream_call
from cachefront.metrics.partitions import create_partitions, days_between
from cachefront.metrics.records import UpstreamCallRecord

__all__ = ["RAW_HIT_EVERY", "SLOW_HIT_MS", "BatchSink", "MetricsRecorder", "RequestRow"]

log = logging.getLogger(__name__)

# (ts, method, route, status, latency_ms, cache_tier, upstream_calls): a plain tuple,
# because building it is the only cost the hot path pays for being measured.
RequestRow = tuple[float, str, str, int, float, str | None, int]

# A hot-path hit this slow keeps its raw row: a slow hit is worth looking at.
SLOW_HIT_MS = 50.0
# One hot-path hit in this many keeps its raw row, so the raw table has a sample of them.
RAW_HIT_EVERY = 100
# (epoch minute, route, status) -> the latencies of the hits folded into it.
_HitKey = tuple[int, str, int]
# (epoch minute, route, status, latency bucket) -> [hits, latency sum].
_FoldKey = tuple[int, str, int, int]


class BatchSink(Protocol):
    """Something else fed each batch the recorder takes (e.g. Prometheus counters)."""

    def add_requests(self, rows: list[RequestRow]) -> None: ...

    def add_upstream(self, records: list[UpstreamCallRecord]) -> None: ...


class MetricsRecorder:
    """In-memory buffer of metrics with a periodic batch flush to PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        *,
        flush_seconds: float = 2.0,
        buffer_max: int = 100_000,
        sink: BatchSink | None = None,
        enabled: bool = True,
        jwt_issuer: str | None = None,
    ) -> None:
        self._engine = engine
        # Off (CACHEFRONT_METRICS_RECORDING=false) every record is ignored: what
        # recording costs is then measured against the same server doing nothing.
        self.enabled = enabled
        self._jwt_issuer = jwt_issuer
        self.sink = sink
        # Records at the front of each buffer the sink was fed already: a batch the
        # database refused goes back to the front, and must not be counted twice.
        self._fed_requests = 0
        self._fed_upstream = 0
        self._buffer_max = buffer_max
        self._requests: list[RequestRow] = []
        self._upstream: list[UpstreamCallRecord] = []
        # Hot-path hits since the last flush, and what they fold to once the sink has
        # seen them: kept through a failed flush as a few counts, not a row per hit.
        self._hits: dict[_HitKey, list[float]] = {}
        self._hits_pending = 0
        self._hits_seen = 0
        self._folds: dict[_FoldKey, list[float]] = {}
        self._flush_lock = asyncio.Lock()
        self._loop = FlushLoop(self.flush, flush_seconds, self._flush_lock, name="metrics-flush")
        # Days whose partitions this process made sure of (see _ensure_partitions).
        self._days_ready: set[date] = set()
        self.dropped = 0
        # Flushes failed in a row: the outage is logged when this leaves and returns to 0.
        self.failed_flushes = 0

    # --- recording (synchronous, O(1)) --------------------------------------------
    def request(self, row: RequestRow) -> None:
        """Record one answered request (see ``RequestRow`` for the fields)."""
        if not self.enabled:
            return
        self._requests.append(row)
        if len(self._requests) > self._buffer_max:
            self._drop_oldest(self._requests)

    def hit(self, route: str, status: int, latency_ms: float, ts: float) -> None:
        """Record one hot-path hit (GET, memory tier, no upstream call), folded by minute."""
        if not self.enabled:
            return
        self._hits_seen += 1
        if latency_ms >= SLOW_HIT_MS or self._hits_seen % RAW_HIT_EVERY == 0:
            self.request((ts, "GET", route, status, latency_ms, "memory", 0))
            return
        if self._hits_pending >= self._buffer_max:
            self.dropped += 1
            return
        self._hits_pending += 1
        key = (int(ts // 60), route, status)
        latencies = self._hits.get(key)
        if latencies is None:
            self._hits[key] = [latency_ms]
        else:
            latencies.append(latency_ms)

    def record_upstream(self, record: UpstreamCallRecord) -> None:
        """Record one upstream call; passed to upstream clients as their recorder.

        Also counts the call against the request being answered, if any: the client
        calls this in the context of the task that made the call.
        """
        note_upstream_call()
        if not self.enabled:
            return
        self._upstream.append(record)
        if len(self._upstream) > self._buffer_max:
            self._drop_oldest(self._upstream)

    def _drop_oldest(self, buffer: list[Any]) -> None:
        excess = len(buffer) - self._buffer_max
        del buffer[:excess]
        self.dropped += excess
        if buffer is self._requests:
            self._fed_requests = max(0, self._fed_requests - excess)
        else:
            self._fed_upstream = max(0, self._fed_upstream - excess)

    def attach(self, engine: AsyncEngine) -> None:
        """Give the recorder its database once the lifespan has opened it."""
        self._engine = engine

    @property
    def pending(self) -> int:
        return (
            len(self._requests)
            + len(self._upstream)
            + self._hits_pending
            + sum(int(n) for n, _ in self._folds.values())
        )

    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        if self._engine is not None:
            self._loop.start()

    async def aclose(self) -> None:
        await self._loop.stop()

    async def flush(self) -> int:
        """Write everything buffered; returns how many records were written."""
        if self._engine is None:
            return 0
        async with self._flush_lock:
            requests, self._requests = self._requests, []
            upstream, self._upstream = self._upstream, []
            hits, self._hits = self._hits, {}
            self._hits_pending = 0
            if self.sink is not None:
                self.sink.add_requests(requests[self._fed_requests :])
                self.sink.add_requests(_hit_rows(hits))
                self.sink.add_upstream(upstream[self._fed_upstream :])
            self._fed_requests = self._fed_upstream = 0
            folds, self._folds = _fold(hits, self._folds), {}
            if not requests and not upstream and not folds:
                return 0
            try:
                await self._copy(requests, upstream, folds)
            except (SQLAlchemyError, psycopg.Error, OSError) as exc:
                # Keep them for the next flush: a database blip must not lose metrics.
                self._requests[:0] = requests
                self._upstream[:0] = upstream
                self._folds = _fold({}, folds, into=self._folds)
                self._fed_requests = len(requests)
                self._fed_upstream = len(upstream)
                self.failed_flushes += 1
                if self.failed_flushes == 1:
                    log.warning(
                        "metrics flush failed, keeping records and retrying: %s",
                        exc,
                        extra={"action": "metrics.flush_failed"},
                    )
                return 0
            written = len(requests) + len(upstream) + sum(int(n) for n, _ in folds.values())
            if self.failed_flushes:
                log.warning(
                    "metrics flush works again after %d failed flushes; wrote %d records",
                    self.failed_flushes,
                    written,
                    extra={"action": "metrics.flush_recovered"},
                )
                self.failed_flushes = 0
            return written

    async def _copy(
        self,
        requests: list[RequestRow],
        upstream: list[UpstreamCallRecord],
        folds: dict[_FoldKey, list[float]],
    ) -> None:
        # One statement per kind writes the raw rows and their rollups (see
        # metrics/sql/queries.sql); the batch goes in by COPY.
        assert self._engine is not None
        stamps = [row[0] for row in requests] + [u.ts for u in upstream]
        stamps += [key[0] * 60.0 for key in folds]
        await self._ensure_partitions(min(stamps), max(stamps))
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            async with driver.transaction(), driver.cursor() as cursor:
                if requests or folds:
                    await cursor.execute(_QUERIES["stage_requests"])
                    async with cursor.copy(_QUERIES["copy_staged_requests"]) as copy:
                        for n, row in enumerate(requests, 1):
                            # A raw row counts once, its latency its own.
                            await copy.write_row((*row, 1, row[4], True))
                            if n % _ROWS_PER_SLICE == 0:
                                # Let waiting requests run: a long flush must not show
                                # up as a latency spike in the requests it measures.
                                await asyncio.sleep(0)
                        for (minute, route, status, bucket), (hits, total) in folds.items():
                            # A fold counts its hits; its latency is its bucket's
                            # middle, which the SQL's bucket formula maps back.
                            await copy.write_row(
                                (
                                    minute * 60.0,
                                    "GET",
                                    route,
                                    status,
                                    bucket_value(bucket),
                                    "memory",
                                    0,
                                    int(hits),
                                    total,
                                    False,
                                )
                            )
                    await cursor.execute(_QUERIES["flush_requests"])
                if upstream:
                    await cursor.execute(_QUERIES["stage_upstream_calls"])
                    async with cursor.copy(_QUERIES["copy_staged_upstream_calls"]) as copy:
                        for u in upstream:
                            await copy.write_row(
                                (
                                    u.ts,
                                    u.provider,
                                    u.method,
                                    u.url,
                                    u.status,
                                    u.latency_ms,
                                    u.attempts,
                                    u.outcome,
                                    u.priority,
                                    u.error,
                                )
                            )
                    await cursor.execute(_QUERIES["flush_upstream_calls"])

    async def _ensure_partitions(self, first: float, last: float) -> None:
        """Make the partitions of the days a batch spans, once per day and process."""
        days = days_between(_ts(first).date(), _ts(last).date())
        missing = [day for day in days if day not in self._days_ready]
        if not missing:
            return
        assert self._engine is not None
        await create_partitions(self._engine, missing)
        self._days_ready.update(missing)


# Rows written between two yields to the event loop (about a millisecond of work).
_ROWS_PER_SLICE = 500

_QUERIES = load_queries("cachefront.metrics")


def _hit_rows(hits: dict[_HitKey, list[float]]) -> list[RequestRow]:
    """The folded hits as the rows the sink takes (stamped with their minute)."""
    return [
        (minute * 60.0, "GET", route, status, ms, "memory", 0)
        for (minute, route, status), latencies in hits.items()
        for ms in latencies
    ]


def _fold(
    hits: dict[_HitKey, list[float]],
    more: dict[_FoldKey, list[float]],
    *,
    into: dict[_FoldKey, list[float]] | None = None,
) -> dict[_FoldKey, list[float]]:
    """``hits`` counted per latency bucket, plus the counts ``more`` (and ``into``) hold."""
    folds: dict[_FoldKey, list[float]] = {k: list(v) for k, v in (into or {}).items()}
    for key, (n, total) in more.items():
        kept = folds.setdefault(key, [0.0, 0.0])
        kept[0] += n
        kept[1] += total
    for (minute, route, status), latencies in hits.items():
        # The latency sum rides on one bucket's row: the rollups sum it per status
        # class, the histograms only count. Counter and sum keep the loop in C.
        total = sum(latencies)
        for bucket, n in Counter(map(bucket_of, latencies)).items():
            kept = folds.setdefault((minute, route, status, bucket), [0.0, 0.0])
            kept[0] += n
            kept[1] += total
            total = 0.0
    return folds


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
