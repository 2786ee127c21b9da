"""The ``x-ratelimit-*`` headers OpenAI sends, and when a caller's windows reset.

OpenAI names the limit, what remains and when it resets, for requests and for tokens
(``x-ratelimit-reset-tokens: 6m0s``); its clients and many tools read them, and the
gateway's own provider client honours the same names (``providers/wait_hints.py``).
Requests are counted per minute and tokens per UTC day.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

__all__ = ["QuotaState", "duration", "minute_of", "ratelimit_headers"]


def minute_of(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def duration(seconds: float) -> str:
    """OpenAI's way of writing a wait: ``20ms``, ``59s``, ``6m0s``, ``3h2m5s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class QuotaState:
    """A caller's counters at one moment, against the limits (None: unlimited)."""

    def __init__(
        self,
        now: datetime,
        day_tokens: int,
        minute_requests: int,
        daily_tokens: int | None,
        requests_per_minute: int | None,
    ) -> None:
        self.now = now.astimezone(UTC)
        self.day_tokens = day_tokens
        self.minute_requests = minute_requests
        self.daily_tokens = daily_tokens
        self.requests_per_minute = requests_per_minute

    @property
    def day(self) -> date:
        return self.now.date()

    def at(self, now: datetime) -> QuotaState:
        """These counters seen at ``now``: a window that has passed since starts at zero."""
        later = now.astimezone(UTC)
        same_day = later.date() == self.day
        same_minute = minute_of(later) == minute_of(self.now)
        return QuotaState(
            later,
            self.day_tokens if same_day else 0,
            self.minute_requests if same_minute else 0,
            self.daily_tokens,
            self.requests_per_minute,
        )

    def seconds_to_next_minute(self) -> float:
        return (minute_of(self.now) + timedelta(minutes=1) - self.now).total_seconds()

    def seconds_to_next_day(self) -> float:
        midnight = datetime.combine(self.day + timedelta(days=1), datetime.min.time(), UTC)
        return (midnight - self.now).total_seconds()

    def requests_exhausted(self) -> bool:
        limit = self.requests_per_minute
        return limit is not None and self.minute_requests + 1 > limit

    def retry_after(self, tokens_wanted: int) -> int:
        """Whole seconds until the window that refused the request starts again."""
        if self.requests_exhausted() and not self._tokens_exhausted(tokens_wanted):
            return max(1, math.ceil(self.seconds_to_next_minute()))
        return max(1, math.ceil(self.seconds_to_next_day()))

    def _tokens_exhausted(self, wanted: int) -> bool:
        limit = self.daily_tokens
        return limit is not None and self.day_tokens + wanted > limit


def ratelimit_headers(state: QuotaState) -> dict[str, str]:
    headers: dict[str, str] = {}
    if state.requests_per_minute is not None:
        headers["x-ratelimit-limit-requests"] = str(state.requests_per_minute)
        remaining = max(0, state.requests_per_minute - state.minute_requests)
        headers["x-ratelimit-remaining-requests"] = str(remaining)
        headers["x-ratelimit-reset-requests"] = duration(state.seconds_to_next_minute())
    if state.daily_tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(state.daily_tokens)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, state.daily_tokens - state.day_tokens))
        headers["x-ratelimit-reset-tokens"] = duration(state.seconds_to_next_day())
    return headers
