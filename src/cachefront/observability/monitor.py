"""Runs the health checks in the background of each process, recording and alerting changes.

Each round first publishes this process's breakers and worker (``processes.py``),
then measures what every live process published, so monitors of processes that
disagree measure the same thing and a change is recorded once, not every round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.observability.alerts import record_changes, send_pending
from cachefront.observability.checks import HealthReport
from cachefront.observability.health import measure_health
from cachefront.observability.processes import BreakerView, LocalState
from cachefront.observability.webhook import alert_payload, post_with_retries

__all__ = ["HealthMonitor"]

log = logging.getLogger(__name__)


class HealthMonitor:
    """Every ``health_check_seconds``: measure, record changes once, post pending alerts."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        upstreams: Mapping[str, BreakerView],
        worker_running: Callable[[], bool | None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.local = LocalState(
            upstreams, worker_running, round_seconds=settings.health_check_seconds
        )
        self._client = httpx.AsyncClient()
        self._task: asyncio.Task[None] | None = None

    async def check_once(self) -> HealthReport:
        """One round: the report, its changes recorded, and alerts sent if a webhook is set."""
        await self.local.publish(self.engine)
        report = await measure_health(self.engine, self.settings)
        await record_changes(self.engine, report, alert_payload)
        url = self.settings.health_webhook_url
        if url is not None:
            secret = url.get_secret_value()

            async def post(payload: dict[str, object]) -> None:
                await post_with_retries(
                    self._client,
                    secret,
                    payload,
                    attempts=self.settings.health_webhook_attempts,
                    attempt_seconds=self.settings.health_webhook_timeout_seconds,
                )

            await send_pending(self.engine, post)
        return report

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="health-monitor")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_check_seconds)
            try:
                await self.check_once()
            except (SQLAlchemyError, OSError) as exc:
                # The database is away: the checks run again next round.
                log.warning("health checks failed: %s", exc, extra={"action": "health.failed"})
            except Exception:
                # Anything else is a bug, logged whole; the monitor must outlive it.
                log.exception("health checks failed", extra={"action": "health.failed"})

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()
        try:
            await self.local.withdraw(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            # The row lapses on its own; stopping must not wait for the database.
            log.warning("could not withdraw this process's health state: %s", exc)
