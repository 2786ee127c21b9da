"""How long a provider asks to be left alone: ``retry-after`` or ``x-ratelimit-reset-*``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cachefront.upstream import parse_retry_after

__all__ = ["parse_reset_duration", "wait_hint"]

# Groq and OpenAI spell resets as Go durations: "2m59.56s", "7.66s", "120ms", "1h2m".
_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
    r"(?:(\d+(?:\.\d+)?)ms)?$"
)
_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


def parse_reset_duration(value: str) -> float | None:
    """Seconds of a reset duration (``2m59.56s``), a bare number of seconds, or None."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    match = _DURATION.match(value)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def wait_hint(headers: Mapping[str, str]) -> float | None:
    """The wait a 429 or 503 asks for: ``retry-after`` first, else the longest reset."""
    after = parse_retry_after(headers.get("retry-after"))
    if after is not None:
        return after
    resets = [parse_reset_duration(headers[name]) for name in _RESET_HEADERS if name in headers]
    known = [reset for reset in resets if reset is not None]
    return max(known) if known else None
