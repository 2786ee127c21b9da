"""Health checks: a measured value against a warn and a critical threshold, and their verdict.

Pure functions, so each threshold is tested without a running system; ``health.py``
measures the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

__all__ = ["Check", "HealthReport", "Level", "Threshold", "judge", "worst"]


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Level.OK: 0, Level.WARN: 1, Level.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Threshold:
    """``warn`` and ``critical`` limits; ``low_is_bad`` for figures that must stay above."""

    warn: float
    critical: float
    low_is_bad: bool = False

    def level(self, value: float) -> Level:
        if self.low_is_bad:
            if value < self.critical:
                return Level.CRITICAL
            return Level.WARN if value < self.warn else Level.OK
        if value > self.critical:
            return Level.CRITICAL
        return Level.WARN if value > self.warn else Level.OK


class Check(BaseModel):
    name: str
    status: Level
    value: float | None
    warn_at: float | None = None
    critical_at: float | None = None
    detail: str


class HealthReport(BaseModel):
    status: Level
    checks: list[Check]


def judge(
    name: str, value: float | None, threshold: Threshold, detail: str, *, unmeasured: str = ""
) -> Check:
    """The check of ``value`` against ``threshold``; no value (too little data) is ok."""
    if value is None:
        return Check(
            name=name,
            status=Level.OK,
            value=None,
            warn_at=threshold.warn,
            critical_at=threshold.critical,
            detail=unmeasured or "not measured",
        )
    return Check(
        name=name,
        status=threshold.level(value),
        value=round(value, 6),
        warn_at=threshold.warn,
        critical_at=threshold.critical,
        detail=detail,
    )


def worst(checks: list[Check]) -> Level:
    return max((c.status for c in checks), key=lambda level: level.rank, default=Level.OK)
