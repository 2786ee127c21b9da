"""The job state machine: the named moves are the rules, and the derived sets agree."""

from __future__ import annotations

import pytest

from cachefront.jobs.status import (
    CANCELLABLE,
    FINAL,
    MOVES,
    RETRYABLE,
    JobStatus,
    Move,
    can_move,
)

Q, R, S, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)

# Every allowed (from, to) pair, written out by hand: the table the moves must make.
ALLOWED = {(Q, R), (R, R), (R, S), (R, F), (Q, F), (R, Q), (Q, C), (R, C), (F, Q), (C, Q)}


def test_every_move_is_named_once() -> None:
    assert set(MOVES) == set(Move)


def test_status_values_are_the_stored_strings() -> None:
    assert [s.value for s in JobStatus] == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]


@pytest.mark.parametrize("current", list(JobStatus))
@pytest.mark.parametrize("new", list(JobStatus))
def test_can_move_is_exactly_the_table(current: JobStatus, new: JobStatus) -> None:
    assert can_move(current, new) is ((current, new) in ALLOWED)


def test_requeue_and_retry_reach_queued_from_different_statuses() -> None:
    # Both end in QUEUED; a running job may wait for its retry but not be requeued.
    assert MOVES[Move.WAIT_FOR_RETRY].sources == {R}
    assert MOVES[Move.REQUEUE].sources == {F, C}


def test_succeeded_is_the_end() -> None:
    assert not any(can_move(S, new) for new in JobStatus)


def test_only_the_job_itself_ends_a_running_job_cancelled() -> None:
    # The API's cancel takes queued jobs only; a running one stops itself (STOP).
    assert MOVES[Move.CANCEL].sources == {Q}
    assert MOVES[Move.STOP].sources == {R}
    assert MOVES[Move.STOP].target is C


def test_derived_sets() -> None:
    assert {Q} == CANCELLABLE
    assert {F, C} == RETRYABLE
    assert {S, F, C} == FINAL
