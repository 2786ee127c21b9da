"""The life of a user-facing job, as a small state machine; values are stored as is."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CANCELLABLE", "FINAL", "RETRYABLE", "JobStatus", "can_move"]


class JobStatus(StrEnum):
    """Status of a job; the value is what the ``jobs.status`` column holds."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
CANCELLABLE = frozenset({JobStatus.QUEUED})
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})

# Which moves are allowed. RUNNING -> RUNNING is a stalled job started again by another
# worker; RUNNING -> QUEUED is a transient failure waiting for its retry.
_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
}


def can_move(current: JobStatus, new: JobStatus) -> bool:
    """Whether a job in ``current`` may move to ``new``."""
    return new in _MOVES[current]
