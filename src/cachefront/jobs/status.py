"""The life of a user-facing job, as a small state machine; values are stored as is.

The named moves below are the only rules: ``jobs/records.py`` updates a job's row only
``WHERE status`` is one of the move's sources, so what the database allows and what
``can_move`` answers are one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CANCELLABLE",
    "FINAL",
    "MOVES",
    "RETRYABLE",
    "JobStatus",
    "Move",
    "Transition",
    "can_move",
]


class JobStatus(StrEnum):
    """Status of a job; the value is what the ``jobs.status`` column holds."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Move(StrEnum):
    """What can happen to a job; each names one transition in ``MOVES``."""

    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    WAIT_FOR_RETRY = "wait_for_retry"
    CANCEL = "cancel"
    STOP = "stop"
    REQUEUE = "requeue"


@dataclass(frozen=True, slots=True)
class Transition:
    """A move allowed from any of ``sources``, ending in ``target``."""

    sources: frozenset[JobStatus]
    target: JobStatus


MOVES: dict[Move, Transition] = {
    # RUNNING -> RUNNING: a stalled job started again by another worker.
    Move.START: Transition(frozenset({JobStatus.QUEUED, JobStatus.RUNNING}), JobStatus.RUNNING),
    Move.SUCCEED: Transition(frozenset({JobStatus.RUNNING}), JobStatus.SUCCEEDED),
    # From QUEUED too: a job may be failed before any worker has started it.
    Move.FAIL: Transition(frozenset({JobStatus.RUNNING, JobStatus.QUEUED}), JobStatus.FAILED),
    # A transient failure, queued again until the queue's retry runs it.
    Move.WAIT_FOR_RETRY: Transition(frozenset({JobStatus.RUNNING}), JobStatus.QUEUED),
    # Only a job no worker has taken: a running task is not interrupted.
    Move.CANCEL: Transition(frozenset({JobStatus.QUEUED}), JobStatus.CANCELLED),
    # A running job that ended itself, between its steps, because it was asked to
    # (``registry.JobStopped``): cancelled, not failed.
    Move.STOP: Transition(frozenset({JobStatus.RUNNING}), JobStatus.CANCELLED),
    Move.REQUEUE: Transition(frozenset({JobStatus.FAILED, JobStatus.CANCELLED}), JobStatus.QUEUED),
}

FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
CANCELLABLE = MOVES[Move.CANCEL].sources
RETRYABLE = MOVES[Move.REQUEUE].sources


def can_move(current: JobStatus, new: JobStatus) -> bool:
    """Whether some move takes a job in ``current`` to ``new``."""
    return any(current in t.sources and t.target is new for t in MOVES.values())
