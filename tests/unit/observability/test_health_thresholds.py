"""Each kind of threshold turns warn and critical exactly past its limits."""

from __future__ import annotations

import pytest

from cachefront.observability.checks import Check, Level, Threshold, judge, worst


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, Level.OK),
        (0.05, Level.OK),
        (0.0501, Level.WARN),
        (0.2, Level.WARN),
        (0.21, Level.CRITICAL),
    ],
)
def test_a_figure_that_must_stay_low(value: float, level: Level) -> None:
    assert Threshold(0.05, 0.2).level(value) is level


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (1.0, Level.OK),
        (0.8, Level.OK),
        (0.79, Level.WARN),
        (0.5, Level.WARN),
        (0.49, Level.CRITICAL),
    ],
)
def test_a_figure_that_must_stay_high(value: float, level: Level) -> None:
    assert Threshold(0.8, 0.5, low_is_bad=True).level(value) is level


def test_no_value_is_ok_and_says_why() -> None:
    check = judge("hit_rate", None, Threshold(0.8, 0.5, low_is_bad=True), "", unmeasured="few")
    assert check.status is Level.OK
    assert check.detail == "few"


def test_the_report_is_its_worst_check() -> None:
    def check(level: Level) -> Check:
        return Check(name=level.value, status=level, value=None, detail="")

    assert worst([check(Level.OK), check(Level.WARN)]) is Level.WARN
    assert worst([check(Level.WARN), check(Level.CRITICAL), check(Level.OK)]) is Level.CRITICAL
    assert worst([]) is Level.OK
