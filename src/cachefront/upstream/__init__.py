"""Calling upstream providers: deadline, retries, circuit breaker, outbound budget and holds."""

from __future__ import annotations

from cachefront.upstream._context import Priority
from cachefront.upstream.breaker import (
    DEFAULT_BREAKER,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_RESET_SECONDS,
    BreakerPolicy,
    BreakerState,
    BreakerTransport,
    CircuitBreaker,
)
from cachefront.upstream.budget import (
    DEFAULT_BACKGROUND_SHARE,
    DEFAULT_MAX_USER_WAIT_SECONDS,
    BudgetTransport,
    OutboundBudget,
)
from cachefront.upstream.client import (
    DEFAULT_TIMEOUT_SECONDS,
    Recorder,
    UpstreamClient,
    build_upstream_client,
)
from cachefront.upstream.hold import UpstreamHold
from cachefront.upstream.network import NetworkTransport
from cachefront.upstream.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF_MAX_SECONDS,
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_RETRY,
    RetryPolicy,
    RetryTransport,
    parse_retry_after,
)
from cachefront.upstream.signals import NO_SIGNALS, ServerSignals

__all__ = [
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
    "NO_SIGNALS",
    "BreakerPolicy",
    "BreakerState",
    "BreakerTransport",
    "BudgetTransport",
    "CircuitBreaker",
    "NetworkTransport",
    "OutboundBudget",
    "Priority",
    "Recorder",
    "RetryPolicy",
    "RetryTransport",
    "ServerSignals",
    "UpstreamClient",
    "UpstreamHold",
    "build_upstream_client",
    "parse_retry_after",
]
