"""The seed figures as rich tables, for the CLI: recent errors, trend, slowest, tasks, unread."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from cachefront.observability.recent_errors import RecentErrors
from cachefront.observability.slowest import SlowestCalls
from cachefront.observability.tasks import TaskReport
from cachefront.observability.trend import Trend
from cachefront.observability.unread import NamespaceReads

__all__ = ["print_errors", "print_slowest", "print_tasks", "print_trend", "print_unread"]


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def print_errors(e: RecentErrors, console: Console) -> None:
    requests = Table(
        "at", "route", "status", "ms", "tier", title=f"failed requests (newest {e.limit})"
    )
    for r in e.requests:
        requests.add_row(
            _when(r.at), f"{r.method} {r.route}", str(r.status), _ms(r.latency_ms), _opt(r.tier)
        )
    console.print(requests)
    calls = Table(
        "at",
        "provider",
        "url",
        "status",
        "outcome",
        "attempts",
        "error",
        title=f"failed upstream calls (newest {e.limit})",
    )
    for c in e.upstream:
        calls.add_row(
            _when(c.at),
            c.provider,
            f"{c.method} {c.url}",
            _opt(c.status),
            c.outcome,
            str(c.attempts),
            _opt(c.error),
        )
    console.print(calls)


def print_trend(t: Trend, console: Console) -> None:
    table = Table(
        "hour (UTC)",
        "requests",
        "hit rate",
        "5xx",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        title=f"per hour, {_when(t.since)} to {_when(t.until)}",
    )
    for h in t.hours:
        table.add_row(
            datetime.fromtimestamp(h.t, UTC).strftime("%Y-%m-%d %H:00"),
            f"{h.requests:,}",
            _pct(h.hit_rate),
            f"{h.server_errors:,}",
            _ms(h.p50_ms),
            _ms(h.p95_ms),
            _ms(h.p99_ms),
        )
    console.print(table)


def print_slowest(s: SlowestCalls, console: Console) -> None:
    requests = Table(
        "ms", "at", "route", "status", "tier", title=f"slowest requests (top {s.limit})"
    )
    for r in s.requests:
        requests.add_row(
            _ms(r.latency_ms), _when(r.at), f"{r.method} {r.route}", str(r.status), _opt(r.tier)
        )
    console.print(requests)
    calls = Table(
        "ms",
        "at",
        "provider",
        "url",
        "outcome",
        "attempts",
        title=f"slowest upstream calls (top {s.limit})",
    )
    for c in s.upstream:
        calls.add_row(
            _ms(c.latency_ms),
            _when(c.at),
            c.provider,
            f"{c.method} {c.url}",
            c.outcome,
            str(c.attempts),
        )
    console.print(calls)


def print_tasks(r: TaskReport, console: Console) -> None:
    table = Table(
        "task",
        "queue",
        "cron",
        "last deferred",
        "next run",
        "last",
        "last s",
        "mean s",
        "runs",
        "failed",
        title=f"periodic tasks (runs kept {r.history_hours} h)",
    )
    for t in r.tasks:
        table.add_row(
            t.task,
            t.queue,
            t.cron,
            _when(t.last_deferred_at),
            _when(t.next_run_at),
            _opt(t.last_status),
            _opt(t.last_duration_s),
            _opt(t.mean_duration_s),
            str(t.runs),
            str(t.failed),
        )
    console.print(table)


def print_unread(rows: list[NamespaceReads], console: Console) -> None:
    table = Table(
        "namespace",
        "entries",
        "never read",
        "bytes never read",
        "oldest never read",
        title="invalidation candidates: entries never read since stored",
    )
    for n in rows:
        if not n.tracked:
            table.add_row(n.namespace, "-", "not tracked", "-", "-")
            continue
        table.add_row(
            n.namespace,
            f"{n.entries or 0:,}",
            f"{n.never_read or 0:,}",
            f"{n.never_read_bytes or 0:,}",
            _when(n.oldest_never_read),
        )
    console.print(table)
    console.print("reads are recorded only in namespaces with a quota (CACHEFRONT_CACHE_QUOTAS)")
