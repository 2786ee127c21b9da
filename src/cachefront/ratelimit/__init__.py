"""Inbound rate limits per identity and route group, with IETF RateLimit headers."""

from cachefront.ratelimit.groups import (
    DEFAULT_RATE_LIMITS,
    GROUPS,
    SERVICE_ONLY_GROUPS,
    SUCCESS_CHARGED_GROUPS,
    parse_rate_limits,
    route_group,
)
from cachefront.ratelimit.limiter import FAILED_AUTH_GROUP, InboundLimiter, LocalCounter, Verdict

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "FAILED_AUTH_GROUP",
    "GROUPS",
    "SERVICE_ONLY_GROUPS",
    "SUCCESS_CHARGED_GROUPS",
    "InboundLimiter",
    "LocalCounter",
    "Verdict",
    "parse_rate_limits",
    "route_group",
]
