"""Reading the usage ledger: a caller's own usage, or every caller's for the service.

The same statements serve both: a caller's query filters on its owner name and the
row-level security behind it would refuse other rows anyway; the service's omits the
filter and sees every row, summed per model and per caller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cachefront.services.ai.quota import QUERIES, QuotaGate

__all__ = ["usage_report"]

# The most callers the admins' view lists.
_TOP_OWNERS = 100


async def usage_report(gate: QuotaGate, owner: str | None, days: int) -> dict[str, Any]:
    """The ledger's totals of the last ``days`` days (today included), per model; for the
    service (``owner`` None) per caller too; for a caller, today's quota counters."""
    engine, limits = gate.engine, gate.limits
    now = datetime.now(UTC)
    since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    report: dict[str, Any] = {"object": "usage", "since": since.isoformat(), "days": days}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(QUERIES.text("usage_by_model"), {"since": since, "owner": owner})
        ).mappings()
        models = [
            {**dict(row), "cost_usd": float(row["cost_usd"]), "saved_usd": float(row["saved_usd"])}
            for row in rows
        ]
        report["models"] = models
        report["totals"] = {
            name: sum(model[name] for model in models)
            for name in (
                "calls",
                "cache_hits",
                "prompt_tokens",
                "completion_tokens",
                "cost_usd",
                "saved_usd",
            )
        }
        if owner is None:
            owners = (
                await conn.execute(
                    QUERIES.text("usage_by_owner"), {"since": since, "limit": _TOP_OWNERS}
                )
            ).mappings()
            report["users"] = [
                {
                    **dict(row),
                    "cost_usd": float(row["cost_usd"]),
                    "saved_usd": float(row["saved_usd"]),
                }
                for row in owners
            ]
            return report
        report["user"] = owner
    tokens_today, requests_this_minute = await gate.counters_of(owner, now)
    report["quota"] = {
        "daily_tokens": limits.daily_tokens,
        "tokens_today": tokens_today,
        "requests_per_minute": limits.requests_per_minute,
        "requests_this_minute": requests_this_minute,
    }
    return report
