"""Outage: whether a shared server answers, and the backoff that skips it while it does not.

Redis and PostgreSQL degrade the same way: the first failed command starts an outage,
logged once (``cache.db_down`` for the database tier, ``redis.down`` for the process's
one Redis link), and the server is skipped for a backoff; the first command tried after
the backoff either ends the outage (logged once: ``cache.db_up``, ``redis.up``) or
doubles the backoff, up to a maximum. Commands that fail during one attempt (several
requests at once) count once, so a dead server costs one log line per outage and at
most one failed command per backoff, not one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Outage"]


class Outage:
    """The up/down state of one server, as a small state machine over a monotonic clock."""

    def __init__(
        self,
        tier: str,
        *,
        label: str,
        without: str,
        backoff_first: float,
        backoff_max: float,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        down_action: str | None = None,
        up_action: str | None = None,
    ) -> None:
        """``tier`` names the log fields (``<tier>_command``) and, by default, the actions
        (``cache.<tier>_down``, ``cache.<tier>_up``); ``label`` is the server as people
        call it; ``without`` says what goes on while it is away; ``logger`` is the
        owner's own, so the lines say which module saw the outage."""
        self.tier = tier
        self._logger = logger
        self._label = label
        self._without = without
        self._backoff_first = backoff_first
        self._backoff_max = backoff_max
        self._clock = clock
        self._down_action = down_action or f"cache.{tier}_down"
        self._up_action = up_action or f"cache.{tier}_up"
        self._backoff = 0.0  # 0 while the server answers; the current backoff during an outage
        self._down_until = 0.0  # clock time before which the server is not tried

    @property
    def available(self) -> bool:
        """False while the server is skipped after an error (the backoff has not passed)."""
        return self._backoff == 0 or self._clock() >= self._down_until

    @property
    def down(self) -> bool:
        """True from a failed command until a command succeeds again."""
        return self._backoff != 0

    def failed(self, command: str, exc: BaseException | str, **fields: str) -> None:
        """Note a failed ``command``: start the outage, or lengthen it after a retry failed.

        ``fields`` go into the log line that starts the outage (who noticed it).
        """
        now = self._clock()
        if not self._backoff:
            self._backoff = self._backoff_first
            self._logger.warning(
                "%s unavailable, %s: %s",
                self._label,
                self._without,
                exc,
                extra={"action": self._down_action, f"{self.tier}_command": command, **fields},
            )
        elif now >= self._down_until:
            self._backoff = min(self._backoff * 2, self._backoff_max)
        else:
            # Another command of the same attempt failed too: one outage, one backoff.
            return
        self._down_until = now + self._backoff

    def succeeded(self, **fields: str) -> None:
        """Note a command that worked; ends the outage if one was going on.

        ``fields`` go into the log line that ends the outage (who noticed it).
        """
        if not self._backoff:
            return
        self._backoff = 0.0
        self._down_until = 0.0
        self._logger.info(
            "%s answers again", self._label, extra={"action": self._up_action, **fields}
        )
