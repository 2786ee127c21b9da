"""Prometheus figures: request and upstream counters and latency histograms, across processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``cachefront serve`` sets it for its worker
processes), prometheus-client's multiprocess mode keeps every process's values in
files of that folder and ``/metrics`` sums them, so a scrape that lands on any one
worker sees them all. Without it (one process, tests) the values live in memory.

Nothing is counted on the hot path: the metrics recorder hands each batch it takes
to ``PrometheusSink`` (``MetricsRecorder(sink=...)``), which sums it by label and
adds the sums, so a request costs Prometheus nothing more than the tuple the recorder
already buffers. Counts therefore lag by at most one flush (``metrics_flush_seconds``);
the scraped process flushes first. Queue depth and cache sizes are read from
PostgreSQL at scrape time, as they are shared by every process anyway.

The live gauges (a process's breakers, its memory tier's bytes) are the process's
own, and a scrape reads the other processes' values from their files: each process
therefore keeps its files current itself, not when it happens to answer a scrape.
``watch`` hooks the breakers, so an opening or closing is written as it happens and
the end of an open period (``reset_seconds`` later, with no event of its own) is read
again then; each flush writes the memory tier's bytes and every breaker again.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from cachefront.metrics.recorder import RequestRow
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream.breaker import BreakerState, CircuitBreaker

__all__ = ["MULTIPROC_ENV", "PrometheusSink", "StoredFigures"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# After an open period: a timer may fire a little early, and must see it over.
REREAD_MARGIN_SECONDS = 0.05
# Seconds: from a memory hit (well under a millisecond) to a slow upstream.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class PrometheusSink:
    """The process's Prometheus metrics, fed in batches by the metrics recorder."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV)
        if self.multiprocess_dir:
            # The value class is chosen when prometheus-client is imported; choose it
            # again in case that was before the folder was set.
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        # registry=None: several apps may run in one process (tests); each keeps its own.
        self.requests = Counter(
            "cachefront_requests",
            "Requests answered, by route template, answering cache tier and status class.",
            ["route", "tier", "status_class"],
            registry=None,
        )
        self.latency = Histogram(
            "cachefront_request_duration_seconds",
            "Time to answer a request, by route template and answering cache tier.",
            ["route", "tier"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.upstream = Counter(
            "cachefront_upstream_calls",
            "Calls to upstreams, by provider and outcome.",
            ["provider", "outcome"],
            registry=None,
        )
        self.upstream_attempts = Counter(
            "cachefront_upstream_attempts",
            "HTTP attempts sent to upstreams (retries included), by provider.",
            ["provider"],
            registry=None,
        )
        self.breaker_open = Gauge(
            "cachefront_breaker_open",
            "1 while a live process's circuit breaker for the provider refuses calls.",
            ["provider"],
            multiprocess_mode="livemax",
            registry=None,
        )
        self.memory_bytes = Gauge(
            "cachefront_memory_cache_bytes",
            "Bytes held by the in-process memory tier, summed over live processes.",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        self._memory_bytes: Callable[[], int] = lambda: 0
        self._own: CollectorRegistry | None = None
        if not self.multiprocess_dir:
            self._own = CollectorRegistry(auto_describe=True)
            for metric in (
                self.requests,
                self.latency,
                self.upstream,
                self.upstream_attempts,
                self.breaker_open,
                self.memory_bytes,
            ):
                self._own.register(metric)

    # --- fed by the recorder ------------------------------------------------------------
    def add_requests(self, rows: Iterable[RequestRow]) -> None:
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        for _ts, _method, route, status, latency_ms, tier, _calls in rows:
            tier_label = tier or "none"
            counts[(route, tier_label, f"{status // 100}xx")] += 1
            latencies[(route, tier_label)].append(latency_ms / 1000.0)
        for key, n in counts.items():
            self.requests.labels(*key).inc(n)
        for pair, seconds in latencies.items():
            _observe_many(self.latency.labels(*pair), seconds)
        # Once per flush (the recorder feeds requests, then upstream calls).
        self.refresh_live()

    def add_upstream(self, records: Iterable[UpstreamCallRecord]) -> None:
        calls: dict[tuple[str, str], int] = defaultdict(int)
        attempts: dict[str, int] = defaultdict(int)
        for record in records:
            calls[(record.provider, record.outcome)] += 1
            attempts[record.provider] += record.attempts
        for labels, n in calls.items():
            self.upstream.labels(*labels).inc(n)
        for provider, n in attempts.items():
            self.upstream_attempts.labels(provider).inc(n)

    # --- live gauges ---------------------------------------------------------------------
    def watch(
        self, breakers: Mapping[str, CircuitBreaker], memory_bytes: Callable[[], int]
    ) -> None:
        """Keep this process's breaker and memory gauges current from now on."""
        self._breakers = dict(breakers)
        self._memory_bytes = memory_bytes
        for breaker in self._breakers.values():
            breaker.listeners.append(self._breaker_changed)
        self.refresh_live()

    def refresh_live(self) -> None:
        """Write every live gauge of this process as it is now."""
        for name, breaker in self._breakers.items():
            self.breaker_open.labels(name).set(1 if breaker.is_open else 0)
        self.memory_bytes.set(self._memory_bytes())

    def _breaker_changed(self, breaker: CircuitBreaker) -> None:
        self.breaker_open.labels(breaker.name).set(1 if breaker.is_open else 0)
        if breaker.is_open:
            # Half-open comes with time, not with an event: read it again then. (No loop:
            # the next flush or scrape writes it.)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            delay = breaker.policy.reset_seconds + REREAD_MARGIN_SECONDS
            loop.call_later(delay, self._open_period_over, breaker)

    def _open_period_over(self, breaker: CircuitBreaker) -> None:
        if breaker.state is BreakerState.OPEN:
            return  # opened again meanwhile: that opening read it again later
        self.breaker_open.labels(breaker.name).set(1 if breaker.is_open else 0)

    def exposition(self, stored: StoredFigures | None = None) -> bytes:
        """The text format of every process's metrics, and of ``stored``."""
        registry = CollectorRegistry(auto_describe=False)
        if self._own is not None:
            registry = self._own
        else:
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        if stored is None:
            return generate_latest(registry)
        registry.register(stored)
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(stored)

    def process_exited(self) -> None:
        """Drop this process's live gauges (breakers, memory) from the shared files."""
        if self.multiprocess_dir:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


def _observe_many(child: Any, seconds: list[float]) -> None:
    # prometheus-client observes one value at a time, taking a lock (and, across
    # processes, writing a file) per value; a batch adds its per-bucket sums instead.
    # Histogram buckets are cumulative only when exposed: each is counted once here.
    bounds = child._upper_bounds
    per_bucket = [0] * len(bounds)
    for value in seconds:
        per_bucket[min(bisect.bisect_left(bounds, value), len(bounds) - 1)] += 1
    child._sum.inc(sum(seconds))
    for index, n in enumerate(per_bucket):
        if n:
            child._buckets[index].inc(n)


class StoredFigures(Collector):
    """Figures read from PostgreSQL for one scrape: queue depth, cache sizes, evictions.

    ``evictions`` are the running totals of quota eviction per namespace (entries,
    bytes), kept in ``cache_quota_state`` whatever process evicted: counters.
    """

    def __init__(
        self,
        queue: Mapping[str, int],
        cache: Iterable[tuple[str, int, int]],
        evictions: Iterable[tuple[str, int, int]] = (),
    ) -> None:
        self.queue = queue
        self.cache = list(cache)
        self.evictions = list(evictions)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "cachefront_job_queue_jobs", "Jobs in the queue, by status.", labels=["status"]
        )
        for status, n in sorted(self.queue.items()):
            depth.add_metric([status], n)
        yield depth
        entries = GaugeMetricFamily(
            "cachefront_cache_entries",
            "Entries in the PostgreSQL cache tier, by namespace.",
            labels=["namespace"],
        )
        size = GaugeMetricFamily(
            "cachefront_cache_bytes",
            "Bytes of values in the PostgreSQL cache tier, by namespace.",
            labels=["namespace"],
        )
        for namespace, n, nbytes in self.cache:
            entries.add_metric([namespace], n)
            size.add_metric([namespace], nbytes)
        yield entries
        yield size
        evicted = CounterMetricFamily(
            "cachefront_cache_evictions",
            "Entries evicted from the PostgreSQL cache tier by its quota, by namespace.",
            labels=["namespace"],
        )
        evicted_bytes = CounterMetricFamily(
            "cachefront_cache_evicted_bytes",
            "Bytes of values evicted from the PostgreSQL cache tier by its quota, by namespace.",
            labels=["namespace"],
        )
        for namespace, n, nbytes in self.evictions:
            evicted.add_metric([namespace], n)
            evicted_bytes.add_metric([namespace], nbytes)
        yield evicted
        yield evicted_bytes
