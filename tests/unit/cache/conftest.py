"""Fixtures for the cache's unit tests: a clock the test moves by hand."""

from __future__ import annotations

import time

import pytest


class FakeClock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
