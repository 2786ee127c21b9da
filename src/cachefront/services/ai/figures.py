"""The AI room's own figures: cache efficiency, tokens used and saved, per model and caller.

Hits, misses and coalesced answers are the room's requests by the ``X-Cache`` they
were answered with (the platform's per-minute request rollups of the room's paths).
Tokens and money come from the ledger: a provider call's row holds the tokens it was
billed, and a cache hit's row the usage of the stored answer it replayed, so the
tokens saved are what the hits would have cost had each gone to the provider. Callers
are shown by their owner name as the ledger stores it (``key:<id>``, ``jwt:...``,
``ip:...``), as ``GET /v1/ai/usage`` shows them to the service: never a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cachefront.rooms import (
    Cell,
    Figure,
    FiguresContext,
    FigureSeries,
    FiguresReader,
    FigureTable,
    RoomFigures,
    Unit,
)
from cachefront.services.ai.quota import QUERIES

__all__ = ["TOP_CALLERS", "figures_reader"]

TOP_CALLERS = 10
# The X-Cache values of answers that could come from the cache; BYPASS could not.
_HIT, _MISS, _COALESCED, _BYPASS = "HIT", "MISS", "COALESCED", "BYPASS"
_MODEL_COLUMNS: tuple[tuple[str, Unit], ...] = (
    ("provider", "text"),
    ("model", "text"),
    ("calls", "count"),
    ("hits", "count"),
    ("prompt tokens", "tokens"),
    ("completion tokens", "tokens"),
    ("tokens saved", "tokens"),
    ("cost", "usd"),
    ("saved", "usd"),
)
_CALLER_COLUMNS: tuple[tuple[str, Unit], ...] = (
    ("caller", "text"),
    ("calls", "count"),
    ("hits", "count"),
    ("tokens", "tokens"),
    ("tokens saved", "tokens"),
    ("cost", "usd"),
)


def _table(title: str, columns: Sequence[tuple[str, Unit]], rows: list[list[Cell]]) -> FigureTable:
    return FigureTable(
        title=title, columns=[c for c, _ in columns], units=[u for _, u in columns], rows=rows
    )


def figures_reader(prefixes: Sequence[str]) -> FiguresReader:
    """The room's reader, counting the requests under ``prefixes`` (its paths)."""

    async def ai_figures(context: FiguresContext) -> RoomFigures:
        window = {"since": context.since, "until": context.until}
        async with context.engine.connect() as conn:
            ledger = (await conn.execute(QUERIES.text("figures_ledger"), window)).mappings().all()
            models = [r for r in ledger if r["kind"] == "model"]
            hourly = sorted((r for r in ledger if r["kind"] == "hour"), key=lambda r: r["hour"])
            by_model: list[list[Cell]] = [
                [
                    str(r["provider"]),
                    str(r["model"]),
                    int(r["calls"]),
                    int(r["hits"]),
                    int(r["prompt_tokens"]),
                    int(r["completion_tokens"]),
                    int(r["tokens_saved"]),
                    float(r["cost_usd"]),
                    float(r["saved_usd"]),
                ]
                for r in models
            ]
            callers = await conn.execute(
                QUERIES.text("figures_top_callers"), {**window, "limit": TOP_CALLERS}
            )
            top: list[list[Cell]] = [
                [
                    str(r["owner"]),
                    int(r["calls"]),
                    int(r["hits"]),
                    int(r["tokens"]),
                    int(r["tokens_saved"]),
                    float(r["cost_usd"]),
                ]
                for r in callers.mappings()
            ]
            answers = {
                str(r["tier"]): int(r["requests"])
                for r in (
                    await conn.execute(
                        QUERIES.text("figures_answers"), {**window, "prefixes": list(prefixes)}
                    )
                ).mappings()
            }
        hits, misses = answers.get(_HIT, 0), answers.get(_MISS, 0)
        coalesced = answers.get(_COALESCED, 0)
        cacheable = hits + misses + coalesced

        def total(column: str) -> float:
            return sum(float(r[column]) for r in models)

        used = int(total("prompt_tokens") + total("completion_tokens"))
        return RoomFigures(
            figures=[
                Figure(label="requests", value=sum(answers.values())),
                Figure(label="cache hits", value=hits),
                Figure(label="misses", value=misses),
                Figure(label="coalesced", value=coalesced),
                Figure(label="bypassed (not cacheable)", value=answers.get(_BYPASS, 0)),
                Figure(
                    label="hit rate", value=hits / cacheable if cacheable else None, unit="ratio"
                ),
                Figure(
                    label="answered without a call of their own",
                    value=(hits + coalesced) / cacheable if cacheable else None,
                    unit="ratio",
                ),
                Figure(label="provider calls", value=int(total("calls"))),
                Figure(label="failed provider calls", value=int(total("failed"))),
                Figure(label="tokens used", value=used, unit="tokens"),
                Figure(
                    label="tokens saved by cache hits",
                    value=int(total("tokens_saved")),
                    unit="tokens",
                ),
                Figure(label="cost", value=total("cost_usd"), unit="usd"),
                Figure(label="cost saved", value=total("saved_usd"), unit="usd"),
            ],
            tables=[
                _table("Tokens per model", _MODEL_COLUMNS, by_model),
                _table(f"Top {TOP_CALLERS} callers by tokens", _CALLER_COLUMNS, top),
            ],
            series=[
                FigureSeries(
                    title="Tokens per hour: used by calls, saved by hits",
                    unit="tokens",
                    t=[_seconds(r["hour"]) for r in hourly],
                    lines={
                        "used": [
                            float(r["prompt_tokens"] + r["completion_tokens"]) for r in hourly
                        ],
                        "saved": [float(r["tokens_saved"]) for r in hourly],
                    },
                )
            ],
        )

    return ai_figures


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def _used(row: Any) -> float:
    return float(row["prompt_tokens"] + row["completion_tokens"])
