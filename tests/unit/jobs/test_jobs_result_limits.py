"""Result limits: the size cap, the per-user quota and the lifetime, as pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cachefront.errors import QuotaExceededError
from cachefront.jobs.storage import ResultLimits, ResultRejectedError, size_text

LIMITS = ResultLimits(max_bytes=1000, quota_bytes=5000, ttl=timedelta(hours=2))


def test_a_result_over_the_cap_is_refused_naming_the_cap() -> None:
    LIMITS.check_result(1000, used=0)
    with pytest.raises(ResultRejectedError, match="1001 bytes, more than the 1000 bytes"):
        LIMITS.check_result(1001, used=0)


def test_a_result_must_fit_in_what_the_quota_has_left() -> None:
    LIMITS.check_result(1000, used=4000)
    with pytest.raises(ResultRejectedError, match=r"does not fit .* 3\.9 KiB of 4\.9 KiB"):
        LIMITS.check_result(1000, used=4001)


def test_submissions_are_refused_once_the_quota_is_full() -> None:
    LIMITS.check_submission(4999)
    with pytest.raises(QuotaExceededError, match="removed 2 hours after") as refused:
        LIMITS.check_submission(5000)
    assert refused.value.status == 409


def test_results_expire_their_lifetime_after_the_job_finished() -> None:
    finished = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert LIMITS.expires_at(finished) == datetime(2026, 12, 1, 14, tzinfo=UTC)


def test_sizes_read_in_the_unit_that_suits_them() -> None:
    assert [size_text(n) for n in (812, 3584, 50 * 1024 * 1024)] == [
        "812 bytes",
        "3.5 KiB",
        "50.0 MiB",
    ]
