"""Limits on stored job results: size cap, per-user quota and lifetime, with their messages.

Pure decisions, no I/O: ``JobRecords`` asks them with the numbers it read, inside the
transaction that writes the result, and the submission path asks before queueing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cachefront.config import Settings
from cachefront.errors import CachefrontError, QuotaExceededError

__all__ = [
    "DOWNLOAD_CHUNK_BYTES",
    "ResultLimits",
    "ResultRejectedError",
    "size_text",
]

# A download reads the result in slices of this size, one short query each, so a
# download holds at most one slice in memory and no connection between slices.
DOWNLOAD_CHUNK_BYTES = 512 * 1024


class ResultRejectedError(CachefrontError):
    """Raised when a finished job's result cannot be kept: too large, or over the quota."""


def size_text(size: int) -> str:
    """``size`` bytes for people: ``812 bytes``, ``3.5 KiB``, ``12.3 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


@dataclass(frozen=True, slots=True)
class ResultLimits:
    """How large a result may be, how much each user may keep, and for how long."""

    max_bytes: int
    quota_bytes: int
    ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ResultLimits:
        return cls(
            max_bytes=settings.jobs_result_max_bytes,
            quota_bytes=settings.jobs_storage_quota_bytes,
            ttl=timedelta(hours=settings.jobs_result_ttl_hours),
        )

    def expires_at(self, finished_at: datetime) -> datetime:
        return finished_at + self.ttl

    def check_submission(self, used: int) -> None:
        """Refuse a new job when its owner's results already fill the quota."""
        if used >= self.quota_bytes:
            raise QuotaExceededError(
                f"storage quota used up: your unexpired results hold {size_text(used)} of "
                f"{size_text(self.quota_bytes)}; results are removed "
                f"{self.ttl.total_seconds() / 3600:g} hours after their job finished"
            )

    def check_result(self, size: int, used: int) -> None:
        """Refuse a result larger than the cap, or one that would overfill the quota."""
        if size > self.max_bytes:
            raise ResultRejectedError(
                f"the result is {size_text(size)}, more than the "
                f"{size_text(self.max_bytes)} a job may store; ask for fewer bodies, "
                "a shorter range or a longer step"
            )
        if used + size > self.quota_bytes:
            raise ResultRejectedError(
                f"the result ({size_text(size)}) does not fit in the storage quota: "
                f"{size_text(used)} of {size_text(self.quota_bytes)} already held by "
                "unexpired results"
            )
