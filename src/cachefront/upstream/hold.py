"""An upstream's hold: a time, set by the upstream's own answer, before which no call leaves.

A hold starts when a response asks for one (``ServerSignals.hold_seconds``: a 418 or
429 with ``Retry-After``) and only ever grows: a later, shorter hold does not cut an
earlier one. It is kept in process memory always, and in Redis too when the process
has a link (key ``HOLD_KEY_V1``, one per upstream, expiring when the hold ends), so a
ban one process was told of stops every process. Readers take the end from the key's
PTTL, so the processes' clocks need not agree.

Redis failures are reported to the link and the memory copy answers meanwhile: a
process then honours the holds it saw itself, and those it read before the outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from cachefront.redis_keys import hold_key
from cachefront.redis_link import RedisLink

__all__ = ["UpstreamHold"]

logger = logging.getLogger(__name__)

# Set the key only if that lengthens the hold (PTTL is -2 for no key), in one step so two
# processes starting holds at once keep the longer one.
_LENGTHEN = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  return 1
end
return 0
"""


def _ceil_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up so a hold never ends early."""
    return max(1, math.ceil(seconds * 1000))


class UpstreamHold:
    """One upstream's hold, in memory and, through ``redis_link``, shared by every process."""

    def __init__(
        self,
        name: str,
        *,
        redis_link: RedisLink | None = None,
        redis_use: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``redis_use`` is how the link's log lines name these commands (the budget's)."""
        self.name = name
        self._link = redis_link
        self._use = redis_use or f"hold:{name}"
        self._clock = clock
        # Monotonic time the hold ends, as far as this process knows.
        self._until = 0.0
        self._key: str | None = None
        self._lengthen: AsyncScript | None = None
        if redis_link is not None:
            self._key = hold_key(redis_link.prefix, name)
            self._lengthen = redis_link.client.register_script(_LENGTHEN)

    def _remember(self, seconds: float) -> bool:
        """Lengthen the memory copy; True when no hold was on before (one starts now)."""
        now = self._clock()
        started = self._until <= now
        self._until = max(self._until, now + seconds)
        return started

    async def start(self, seconds: float, *, status: int) -> None:
        """Hold the upstream for ``seconds`` from now (unless a longer hold is on)."""
        if seconds <= 0:
            return
        if self._remember(seconds):
            logger.warning(
                "upstream %s: on hold for %.1fs after HTTP %d",
                self.name,
                seconds,
                status,
                extra={
                    "action": "upstream_hold",
                    "provider": self.name,
                    "seconds": seconds,
                    "status": status,
                },
            )
        link = self._link
        if link is None or self._key is None or self._lengthen is None or not link.available:
            return
        try:
            await self._lengthen(keys=[self._key], args=[_ceil_ms(seconds), status])
        except RedisError as exc:
            link.failed(self._use, "hold", exc)
        else:
            link.succeeded(self._use)

    async def remaining(self) -> float:
        """Seconds until the hold ends; 0.0 when there is none."""
        link = self._link
        if link is not None and self._key is not None and link.available:
            try:
                left_ms = await link.client.pttl(self._key)
            except RedisError as exc:
                link.failed(self._use, "hold", exc)
            else:
                link.succeeded(self._use)
                if left_ms > 0:
                    # Another process's hold: remember it for an outage to come.
                    self._remember(left_ms / 1000.0)
        return max(0.0, self._until - self._clock())
