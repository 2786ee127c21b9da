"""The worker's restart backoff: doubling from the base, capped, jittered within [half, whole)."""

from __future__ import annotations

from cachefront.jobs.supervisor import RestartBackoff


def test_waits_double_then_stop_at_the_cap() -> None:
    backoff = RestartBackoff(base=0.5, cap=4.0)
    # With the largest jitter the wait is the whole step; with none, half of it.
    whole = [backoff.delay(n, jitter=lambda: 1.0) for n in range(1, 8)]
    half = [backoff.delay(n, jitter=lambda: 0.0) for n in range(1, 8)]
    assert whole == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert half == [w / 2 for w in whole]


def test_jitter_spreads_workers_over_the_upper_half_of_the_step() -> None:
    backoff = RestartBackoff(base=1.0, cap=30.0)
    waits = {backoff.delay(3, jitter=lambda share=share: share) for share in (0.0, 0.25, 0.999)}
    assert waits == {2.0, 2.5, 4.0 * (0.5 + 0.999 / 2)}


def test_huge_attempt_counts_stay_at_the_cap() -> None:
    assert RestartBackoff(base=0.5, cap=30.0).delay(10_000, jitter=lambda: 1.0) == 30.0
