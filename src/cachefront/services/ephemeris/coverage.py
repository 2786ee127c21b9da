"""The span of instants cachefront answers for: the whole supported range and each provider's.

Instants outside ``SUPPORTED`` are refused where they are read, so nothing past it ever
reaches date arithmetic (year 1 minus an offset, year 9999 plus a step overflow).
``SUPPORTED`` is what Horizons serves reliably in the Gregorian calendar: it prints
dates before 1582-10-15 in the Julian calendar, which we do not read, and its
ephemeris (DE441) reaches far past 2500, which nobody has asked us for. The local
provider covers DE421's span with a few days' margin at each end, for the neighbouring
grid instants every answer asks for (rates, whole chunks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cachefront.errors import InvalidInputError

__all__ = ["DE421", "PROVIDER_COVERAGE", "SUPPORTED", "Coverage", "coverage_of"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """The instants from ``first`` to ``last``, both included (UTC)."""

    first: datetime
    last: datetime

    def __contains__(self, at: object) -> bool:
        return isinstance(at, datetime) and self.first <= at <= self.last

    def describe(self) -> str:
        """``1899-08-01 to 2053-10-01``: the span as a person reads it."""
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"

    def require(self, instant: datetime, *, field: str, reach: timedelta = timedelta(0)) -> None:
        """Raise InvalidInputError naming ``field`` unless ``instant`` is covered.

        ``reach`` is how far either side the providers will compute too: one step of a
        range coarser than the grid (for its rates). On the grid step that stays inside
        the margin the provider spans keep, so callers pass none.
        """
        if instant - reach in self and instant + reach in self:
            return
        around = f" with one step ({reach}) either side" if reach else ""
        raise InvalidInputError(
            f"{instant:%Y-%m-%dT%H:%M:%SZ}{around} is outside what the configured "
            f"ephemeris providers cover ({self.describe()})",
            field=field,
        )


SUPPORTED = Coverage(datetime(1600, 1, 1, tzinfo=UTC), datetime(2500, 12, 31, tzinfo=UTC))
"""Every instant any provider is asked about lies here."""

DE421 = Coverage(datetime(1899, 7, 29, tzinfo=UTC), datetime(2053, 10, 9, tzinfo=UTC))
"""The span of the JPL DE421 kernel the local provider computes with."""

PROVIDER_COVERAGE: dict[str, Coverage] = {
    "horizons": SUPPORTED,
    "local": Coverage(datetime(1899, 8, 1, tzinfo=UTC), datetime(2053, 10, 1, tzinfo=UTC)),
}


def coverage_of(provider_names: Iterable[str]) -> Coverage:
    """The span the named providers cover together, from the earliest to the latest.

    A name without a known span (a provider under test) counts as the supported range.
    """
    spans = [PROVIDER_COVERAGE.get(name, SUPPORTED) for name in provider_names]
    if not spans:
        return SUPPORTED
    return Coverage(min(s.first for s in spans), max(s.last for s in spans))
