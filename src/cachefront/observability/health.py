"""Measures the health checks: cache, errors, latency, upstreams, breakers, jobs, workers, storage.

Each figure comes from what is already kept: the metrics rollups of the last
``health_window_minutes`` (``metrics.stats``), this process's circuit breakers, the
job queue's tables, the database size and the bytes of each cache namespace that has
a quota (``CACHEFRONT_CACHE_QUOTAS``). Thresholds are settings; the verdicts are
``checks.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.quotas import quota_states
from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.metrics.stats import load_stats
from cachefront.observability.checks import Check, HealthReport, Level, Threshold, judge, worst

__all__ = ["BreakerView", "measure_health"]

QUERIES = load_queries("cachefront.observability")
# A cache namespace past this share of its quota has not been evicted for a while.
NAMESPACE_CRITICAL_RATIO = 1.5


class BreakerView(Protocol):
    """What a health check reads of an upstream client."""

    @property
    def breaker_open(self) -> bool: ...


async def measure_health(
    engine: AsyncEngine,
    settings: Settings,
    upstreams: Mapping[str, BreakerView] | None = None,
    *,
    worker_running: bool | None = None,
) -> HealthReport:
    """Every check, measured now. ``worker_running``: this process's worker, if it runs one."""
    s = settings
    stats = await load_stats(engine, s.health_window_minutes / 60)
    window = f"last {s.health_window_minutes:g} min"
    few = f"fewer than {s.health_min_requests} requests in the {window}"
    enough = stats.requests >= s.health_min_requests
    enough_cached = stats.cached_requests >= s.health_min_requests
    async with engine.connect() as conn:
        jobs = (
            (await conn.execute(QUERIES.text("job_figures"), {"stall": s.jobs_stall_seconds}))
            .mappings()
            .one()
        )
        size = int((await conn.execute(QUERIES.text("database_size"))).scalar_one())
        quotas = {ns: int(quota) for ns, quota in s.cache_quotas.items()}
        namespaces: dict[str, int] = {}
        if quotas:
            # As the last eviction run measured them: measuring here would scan the
            # namespaces' rows on every check of every process.
            states = await quota_states(conn)
            namespaces = {ns: state.bytes for ns, state in states.items()}

    checks = [
        judge(
            "hit_rate",
            stats.hit_rate if enough_cached else None,
            Threshold(s.health_hit_rate_warn, s.health_hit_rate_critical, low_is_bad=True),
            f"{stats.hits} of {stats.cached_requests} cached-route requests were hits ({window})",
            unmeasured=few,
        ),
        judge(
            "error_rate",
            stats.error_rate if enough else None,
            Threshold(s.health_error_rate_warn, s.health_error_rate_critical),
            f"{stats.server_errors} of {stats.requests} requests answered 5xx ({window})",
            unmeasured=few,
        ),
        judge(
            "cached_p95_ms",
            stats.cached.p95_ms if enough_cached else None,
            Threshold(s.health_cached_p95_warn_ms, s.health_cached_p95_critical_ms),
            f"p95 latency of cache hits ({window})",
            unmeasured=few,
        ),
        judge(
            "upstream_failure_rate",
            stats.upstream_failure_rate,
            Threshold(s.health_upstream_failure_warn, s.health_upstream_failure_critical),
            f"{stats.upstream_failures} of {stats.upstream_calls} upstream calls failed ({window})",
            unmeasured=f"no upstream call in the {window}",
        ),
        _breakers(upstreams or {}),
        judge(
            "job_backlog",
            float(jobs["backlog"]),
            Threshold(s.health_job_backlog_warn, s.health_job_backlog_critical),
            "jobs due and not yet started",
        ),
        judge(
            "stalled_jobs",
            float(jobs["stalled"]),
            Threshold(s.health_stalled_jobs_warn, s.health_stalled_jobs_critical),
            f"running jobs whose worker sent no heartbeat for {s.jobs_stall_seconds:g} s",
        ),
        _workers(int(jobs["live_workers"]), worker_running),
        _storage(size, s.health_storage_quota_bytes, namespaces, quotas),
    ]
    return HealthReport(status=worst(checks), checks=checks)


def _breakers(upstreams: Mapping[str, BreakerView]) -> Check:
    tripped = sorted(name for name, client in upstreams.items() if client.breaker_open)
    if not upstreams:
        status, detail = Level.OK, "no upstream in this process"
    elif not tripped:
        status, detail = Level.OK, f"all {len(upstreams)} closed"
    else:
        # The cache still answers what it holds: one open breaker is a warning, all of
        # them (nothing new can be fetched) critical.
        status = Level.CRITICAL if len(tripped) == len(upstreams) else Level.WARN
        detail = "open: " + ", ".join(tripped)
    return Check(
        name="breakers_open",
        status=status,
        value=float(len(tripped)),
        warn_at=1,
        critical_at=float(len(upstreams)) or None,
        detail=detail,
    )


def _workers(live: int, running_here: bool | None) -> Check:
    if running_here is False:
        status, detail = Level.CRITICAL, "this process's job worker is down"
    elif live == 0:
        status, detail = Level.CRITICAL, "no job worker sent a heartbeat recently"
    else:
        status, detail = Level.OK, f"{live} job worker(s) beating"
    return Check(name="workers", status=status, value=float(live), critical_at=0, detail=detail)


def _storage(
    size: int, quota: int | None, namespaces: Mapping[str, int], quotas: Mapping[str, int]
) -> Check:
    if quota is None:
        check = Check(
            name="storage",
            status=Level.OK,
            value=float(size),
            detail=f"database {size / 1e6:.1f} MB; no quota set",
        )
    else:
        check = judge(
            "storage",
            float(size),
            Threshold(0.8 * quota, float(quota)),
            f"database {size / 1e6:.1f} MB of a {quota / 1e6:.1f} MB quota",
        )
    if not quotas:
        return check
    # ``namespaces``: the bytes each eviction run left. Eviction brings a namespace
    # under its quota, so one still past it means eviction cannot keep up (rows held
    # by writers: a warning), far past it that something is badly wrong (critical).
    over = {
        ns: namespaces[ns] / limit if limit else float("inf")
        for ns, limit in quotas.items()
        if namespaces.get(ns, 0) > limit
    }
    if not over:
        measured = sum(1 for ns in quotas if ns in namespaces)
        detail = f"{check.detail}; {measured} cache namespace(s) within quota"
        if measured < len(quotas):
            detail += f", {len(quotas) - measured} not measured yet"
        return check.model_copy(update={"detail": detail})
    worst_ratio = max(over.values())
    level = Level.CRITICAL if worst_ratio > NAMESPACE_CRITICAL_RATIO else Level.WARN
    named = ", ".join(f"{ns} {ratio:.0%}" for ns, ratio in sorted(over.items()))
    status = max(check.status, level, key=lambda lv: lv.rank)
    detail = f"{check.detail}; cache namespaces over their quota: {named}"
    return check.model_copy(update={"status": status, "detail": detail})
