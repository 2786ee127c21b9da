"""Maps `GET /v1/ephemeris/{body}?at=` to its cache key without the framework (hot path)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.grid import parse_instant
from cachefront.services.ephemeris.keys import NAMESPACE

__all__ = ["EphemerisFastRoute"]

# Distinct query strings remembered; past this the memo starts over (cheap and bounded).
_MEMO_MAX = 50_000


class EphemerisFastRoute:
    """Maps a request for one position to ``(namespace, key)``, or None for the full path."""

    prefix = "/v1/ephemeris/"
    template = "/v1/ephemeris/{body}"

    def __init__(self, grid_seconds: int) -> None:
        self.grid_seconds = grid_seconds
        self.bodies = frozenset(body.value for body in Body)
        # query string -> snapped unix seconds; only explicit instants, never "now".
        self._memo: dict[bytes, int] = {}

    def resolve(self, path: str, query: bytes, now: float) -> tuple[str, str] | None:
        body = path[len(self.prefix) :]
        if body not in self.bodies:
            return None  # unknown body, trailing slash, ...: the full path explains
        if not query:
            return NAMESPACE, f"{body}:{self._snap(now)}"
        epoch = self._memo.get(query)
        if epoch is None:
            epoch = self._parse(query, now)
            if epoch is None:
                return None
        return NAMESPACE, f"{body}:{epoch}"

    def _snap(self, epoch: float) -> int:
        # Nearest grid instant, ties rounding up, as grid.snap does.
        step = self.grid_seconds
        return ((2 * int(epoch * 1_000_000) + step * 1_000_000) // (2 * step * 1_000_000)) * step

    def _parse(self, query: bytes, now: float) -> int | None:
        try:
            pairs = parse_qsl(query.decode("latin-1"), strict_parsing=True)
        except ValueError:
            return None
        if len(pairs) != 1 or pairs[0][0] != "at":
            return None
        text = pairs[0][1]
        if text.strip().lower() == "now":
            return self._snap(now)
        try:
            at = parse_instant(text)
        except InvalidInputError:
            return None
        epoch = self._snap(at.timestamp())
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[query] = epoch
        return epoch
