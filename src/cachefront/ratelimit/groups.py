"""Route groups: which limit and which access rule a request falls under, by method and path.

    group        routes                                default limit   anonymous  charged
    admin        /v1/admin/*                           general's       never      always
    generation   POST /v1/jobs (long generation jobs)  5/hour          no         on success
    jobs         /v1/jobs/*                            general's       no         always
    uploads      POST/PUT /v1/uploads, /v1/files       20/minute       no         on success
    upstream     /v1/ephemeris* (may call upstream)    100/minute      yes        always
    general      everything else                       200/minute      yes        always

Each group counts separately per identity; a group without a limit of its own uses
the general group's. A group charged "on success" is a quota of costly work: only
requests answered 2xx and not replayed (``Idempotent-Replayed: true``) spend from it;
the others (typos, conflicts, replays) are charged to the general group instead, so
they stay bounded without using up the quota. Which groups anonymous callers may use is a setting
(``CACHEFRONT_ANON_ROUTE_GROUPS``); admin stays service-only whatever it says.
"""

from __future__ import annotations

from collections.abc import Mapping

import limits

from cachefront.errors import ConfigurationError

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "GROUPS",
    "SERVICE_ONLY_GROUPS",
    "SUCCESS_CHARGED_GROUPS",
    "parse_rate_limits",
    "route_group",
]

DEFAULT_RATE_LIMITS: dict[str, str] = {
    "general": "200/minute",
    "upstream": "100/minute",
    "uploads": "20/minute",
    "generation": "5/hour",
}
GROUPS = ("admin", "generation", "jobs", "uploads", "upstream", "general")
SERVICE_ONLY_GROUPS = frozenset({"admin"})
SUCCESS_CHARGED_GROUPS = frozenset({"generation", "uploads"})

_WRITES = frozenset({"POST", "PUT", "PATCH"})
# (path prefix, methods or None for all, group), first match wins.
_RULES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("/v1/ephemeris", None, "upstream"),
    ("/v1/admin", None, "admin"),
    ("/v1/jobs", frozenset({"POST"}), "generation"),
    ("/v1/jobs", None, "jobs"),
    ("/v1/uploads", _WRITES, "uploads"),
    ("/v1/files", _WRITES, "uploads"),
)


def route_group(method: str, path: str) -> str:
    """The group of a request; plain prefix tests, cheap enough for the hot path."""
    for prefix, methods, group in _RULES:
        if path.startswith(prefix) and (methods is None or method in methods):
            # "/v1/adminx" is not under "/v1/admin": the prefix must end at a segment.
            rest = path[len(prefix) : len(prefix) + 1]
            if rest in ("", "/"):
                return group
    return "general"


def parse_rate_limits(configured: Mapping[str, str]) -> dict[str, limits.RateLimitItem]:
    """Every group's limit: the defaults, overridden by ``configured``."""
    merged = {**DEFAULT_RATE_LIMITS, **configured}
    out: dict[str, limits.RateLimitItem] = {}
    for group, text in merged.items():
        if group not in GROUPS:
            raise ConfigurationError(
                f"CACHEFRONT_RATE_LIMITS: unknown route group {group!r} "
                f"(known: {', '.join(GROUPS)})"
            )
        try:
            out[group] = limits.parse(text)
        except ValueError as exc:
            raise ConfigurationError(
                f"CACHEFRONT_RATE_LIMITS: cannot read {group}={text!r}; "
                'expected the limits notation, e.g. "200/minute"'
            ) from exc
    for group in GROUPS:
        out.setdefault(group, out["general"])
    return out
