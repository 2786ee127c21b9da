"""The alert webhook: one JSON body Slack and Discord both read, posted with retries.

Slack's incoming webhooks read ``text`` and Discord's read ``content``; both ignore
the other's field, so one body serves both, with the checks as structured data
beside them for any other receiver.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from cachefront.observability.alerts import Change
from cachefront.observability.checks import HealthReport, Level

__all__ = ["WebhookError", "alert_payload", "post_with_retries"]

_ICONS = {
    Level.OK: ":white_check_mark:",
    Level.WARN: ":warning:",
    Level.CRITICAL: ":rotating_light:",
}
# Statuses worth another attempt: the receiver is busy or failing, not refusing us.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookError(Exception):
    """The receiver did not take the alert after every attempt."""


def alert_payload(report: HealthReport, changes: list[Change]) -> dict[str, Any]:
    lines = [f"{_ICONS[report.status]} cachefront health: {report.status.value}"]
    for check, before in changes:
        value = "" if check.value is None else f" ({check.value:g})"
        lines.append(
            f"- {check.name}: {before or 'new'} -> {check.status.value}{value}: {check.detail}"
        )
    text = "\n".join(lines)
    return {
        "text": text,
        "content": text[:2000],  # Discord's limit on a message
        "status": report.status.value,
        "changes": [
            {
                "name": c.name,
                "from": before,
                "to": c.status.value,
                "value": c.value,
                "detail": c.detail,
            }
            for c, before in changes
        ],
    }


async def post_with_retries(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int,
    attempt_seconds: float,
    backoff: float = 0.5,
) -> None:
    """POST ``payload``; retries timeouts, connection errors and 408/429/5xx, doubling waits."""
    last = "no attempt"
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = await client.post(url, json=payload, timeout=attempt_seconds)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}"
            continue
        if response.is_success:
            return
        last = f"HTTP {response.status_code}"
        if response.status_code not in _RETRY_STATUSES:
            break
    raise WebhookError(f"webhook not taken after {attempt + 1} attempt(s): {last}")
