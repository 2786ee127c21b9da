"""Health alerts: each change of a check's state recorded once, and sent once, across processes.

Every process runs the checks (``monitor.py``). ``record_changes`` compares them with
the stored states under a transaction-level advisory lock, so when several processes
see the same change at once only the first records it: it updates the states and
adds one alert to the outbox in the same transaction. ``send_pending`` then claims
alerts with ``FOR UPDATE SKIP LOCKED`` and a lease, posts each (``webhook.py``, with
its retries) and marks it sent, so two processes never post the same alert; a claim
held by a process that died lapses and another sends it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.observability.checks import Check, HealthReport

__all__ = ["Change", "record_changes", "send_pending"]

log = logging.getLogger(__name__)
QUERIES = load_queries("cachefront.observability")

Change = tuple[Check, str | None]
"""A check whose state changed, and its state before (None: first seen)."""

# How long a sender holds an alert before another may take it.
LEASE_SECONDS = 120.0


async def record_changes(
    engine: AsyncEngine,
    report: HealthReport,
    payload: Callable[[HealthReport, list[Change]], dict[str, Any]],
) -> int | None:
    """Store the checks' states; the id of the alert the changes made, if any changed.

    A check seen for the first time in the ok state is stored without an alert: a
    fresh deployment is not news.
    """
    async with engine.begin() as conn:
        await conn.execute(QUERIES.text("lock_health_states"))
        rows = (await conn.execute(QUERIES.text("health_states"))).all()
        before = {str(name): str(status) for name, status in rows}
        changes: list[Change] = []
        for check in report.checks:
            previous = before.get(check.name)
            if previous == check.status.value:
                continue
            await conn.execute(
                QUERIES.text("upsert_health_state"),
                {"name": check.name, "status": check.status.value, "value": check.value},
            )
            if previous is not None or check.status.value != "ok":
                changes.append((check, previous))
        if not changes:
            return None
        body = json.dumps(payload(report, changes))
        alert = await conn.execute(
            QUERIES.text("insert_alert"), {"status": report.status.value, "payload": body}
        )
        alert_id = int(alert.scalar_one())
    log.warning(
        "health changed: %s",
        ", ".join(f"{c.name} {p or 'new'} -> {c.status}" for c, p in changes),
        extra={"action": "health.changed", "status": report.status.value},
    )
    return alert_id


async def send_pending(
    engine: AsyncEngine,
    post: Callable[[dict[str, Any]], Awaitable[None]],
    *,
    max_rounds: int = 5,
) -> int:
    """Post every alert not sent yet; how many were sent. ``post`` raises when it failed."""
    sent = 0
    while True:
        async with engine.begin() as conn:
            claimed = (
                (await conn.execute(QUERIES.text("claim_alert"), {"lease": LEASE_SECONDS}))
                .mappings()
                .one_or_none()
            )
        if claimed is None:
            return sent
        alert_id = int(claimed["id"])
        try:
            await post(dict(claimed["payload"]))
        except Exception as exc:  # any failure: keep the alert for the next round
            async with engine.begin() as conn:
                await conn.execute(
                    QUERIES.text("release_alert"),
                    {"id": alert_id, "error": str(exc)[:500], "max_rounds": max_rounds},
                )
            log.warning(
                "health alert %d not sent: %s",
                alert_id,
                exc,
                extra={"action": "health.alert_failed"},
            )
            return sent
        async with engine.begin() as conn:
            await conn.execute(QUERIES.text("mark_alert_sent"), {"id": alert_id})
        sent += 1
