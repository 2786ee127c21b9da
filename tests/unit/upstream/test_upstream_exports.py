"""Pins the public surface of cachefront.upstream, so a change to it is a decision."""

from __future__ import annotations

import cachefront.upstream


def test_exported_names() -> None:
    assert set(cachefront.upstream.__all__) == {
        "DEFAULT_ATTEMPTS",
        "DEFAULT_BACKGROUND_SHARE",
        "DEFAULT_BACKOFF_MAX_SECONDS",
        "DEFAULT_BACKOFF_SECONDS",
        "DEFAULT_BREAKER",
        "DEFAULT_FAILURE_THRESHOLD",
        "DEFAULT_MAX_USER_WAIT_SECONDS",
        "DEFAULT_RESET_SECONDS",
        "DEFAULT_RETRY",
        "DEFAULT_TIMEOUT_SECONDS",
        "BreakerPolicy",
        "BreakerState",
        "BreakerTransport",
        "BudgetTransport",
        "CircuitBreaker",
        "OutboundBudget",
        "Priority",
        "Recorder",
        "RetryPolicy",
        "RetryTransport",
        "UpstreamClient",
        "build_upstream_client",
        "parse_retry_after",
    }
    assert len(set(cachefront.upstream.__all__)) == len(cachefront.upstream.__all__)


def test_every_exported_name_exists() -> None:
    for name in cachefront.upstream.__all__:
        assert hasattr(cachefront.upstream, name), name
