"""Measures the health checks: cache, errors, latency, upstreams, breakers, jobs, workers, storage.

Each figure comes from what is already kept: the metrics rollups of the last
``health_window_minutes`` (``metrics.stats``), the circuit breakers and job workers
every live process published (``processes.py``), the job queue's tables, the database
size and the bytes of each cache namespace that has a quota
(``CACHEFRONT_CACHE_QUOTAS``). Thresholds are settings; the verdicts are
``checks.py``'s. Every process, and the CLI, therefore measures the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.quotas import quota_states
from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.metrics.stats import load_stats
from cachefront.observability.checks import Check, HealthReport, Level, Threshold, judge, worst
from cachefront.observability.processes import BreakerView, ClusterView, load_cluster

__all__ = ["BreakerView", "measure_health"]

QUERIES = load_queries("cachefront.observability")
# A cache namespace past this share of its quota has not been evicted for a while.
NAMESPACE_CRITICAL_RATIO = 1.5
# How the unpublished view of the measuring process is named among the others.
THIS_PROCESS = "this process"


async def measure_health(
    engine: AsyncEngine,
    settings: Settings,
    upstreams: Mapping[str, BreakerView] | None = None,
    *,
    worker_running: bool | None = None,
) -> HealthReport:
    """Every check, measured now, over what every live process published.

    ``upstreams`` and ``worker_running`` (None: no worker here) are the measuring
    process's own view as it is now, counted as one more process; leave them out when
    it has just published (the monitor, ``/v1/admin/health``), so every process and
    the CLI judge exactly the same rows.
    """
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
        cluster = _with_local(await load_cluster(conn), upstreams or {}, worker_running)
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
        _breakers(cluster),
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
        _workers(int(jobs["live_workers"]), cluster, s.jobs_stall_seconds),
        _storage(size, s.health_storage_quota_bytes, namespaces, quotas),
    ]
    return HealthReport(status=worst(checks), checks=checks)


def _with_local(
    cluster: ClusterView, upstreams: Mapping[str, BreakerView], worker_running: bool | None
) -> ClusterView:
    if not upstreams and worker_running is None:
        return cluster
    breakers = {name: list(ids) for name, ids in cluster.breakers.items()}
    for name, client in upstreams.items():
        tripped = breakers.setdefault(name, [])
        if client.breaker_open:
            tripped.append(THIS_PROCESS)
    down = cluster.workers_down + ((THIS_PROCESS,) if worker_running is False else ())
    return ClusterView(
        processes=cluster.processes + 1,
        breakers={name: tuple(ids) for name, ids in sorted(breakers.items())},
        workers_down=down,
        workers_running=cluster.workers_running + (1 if worker_running else 0),
    )


def _breakers(cluster: ClusterView) -> Check:
    # A provider whose breaker is open in any live process is open: that process's
    # callers get stale answers or errors, whatever the others see.
    providers = cluster.breakers
    tripped = sorted(name for name, ids in providers.items() if ids)
    if not providers:
        status, detail = Level.OK, "no live process publishes an upstream"
    elif not tripped:
        status, detail = Level.OK, f"all {len(providers)} closed in {cluster.processes} process(es)"
    else:
        # The cache still answers what it holds: one open breaker is a warning, all of
        # them (nothing new can be fetched) critical.
        status = Level.CRITICAL if len(tripped) == len(providers) else Level.WARN
        detail = "open: " + ", ".join(
            f"{name} (in {len(providers[name])} of {cluster.processes} process(es))"
            for name in tripped
        )
    return Check(
        name="breakers_open",
        status=status,
        value=float(len(tripped)),
        warn_at=1,
        critical_at=float(len(providers)) or None,
        detail=detail,
    )


def _workers(live: int, cluster: ClusterView, stall_seconds: float) -> Check:
    # ``live``: workers beating in procrastinate's table, whichever process runs them.
    # None beating stops every job; a process whose supervisor is restarting its worker
    # while others beat only slows them.
    if live == 0:
        status = Level.CRITICAL
        detail = f"no job worker sent a heartbeat in the last {stall_seconds:g} s"
    elif cluster.workers_down:
        status = Level.WARN
        running = cluster.workers_running + len(cluster.workers_down)
        detail = (
            f"job worker down in {len(cluster.workers_down)} of {running} process(es): "
            + ", ".join(cluster.workers_down)
        )
    else:
        status, detail = Level.OK, f"{live} job worker(s) beating"
    return Check(
        name="workers",
        status=status,
        value=float(live),
        warn_at=None,
        critical_at=0,
        detail=detail,
    )


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
