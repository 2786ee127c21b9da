"""Route groups: which limit and which access rule a request falls under, by method and path.

    group        routes                                default limit   anonymous  charged
    admin        /v1/admin/*                           general's       never      always
    generation   POST /v1/jobs (long generation jobs)  5/hour          no         on success
    jobs         /v1/jobs/*                            general's       no         always
    uploads      POST/PUT /v1/uploads, /v1/files       20/minute       no         on success
    upstream     rooms' routes that may call upstream  100/minute      yes        always
    general      everything else                       200/minute      yes        always

Rooms (``services/``) add their path prefixes to a group (``Room.route_groups``,
e.g. ``/v1/prices`` -> ``upstream``), and may add groups of their own with default
limits (``Room.group_limits``); their rules are matched before the platform's.

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
from cachefront.rooms import AnyRoom, RouteGroupRule
from cachefront.services import ROOMS

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "GROUPS",
    "SERVICE_ONLY_GROUPS",
    "SUCCESS_CHARGED_GROUPS",
    "parse_rate_limits",
    "route_group",
]

_PLATFORM_LIMITS: dict[str, str] = {
    "general": "200/minute",
    "upstream": "100/minute",
    "uploads": "20/minute",
    "generation": "5/hour",
}
_PLATFORM_GROUPS = ("admin", "generation", "jobs", "uploads", "upstream", "general")
SERVICE_ONLY_GROUPS = frozenset({"admin"})
SUCCESS_CHARGED_GROUPS = frozenset({"generation", "uploads"})

_WRITES = frozenset({"POST", "PUT", "PATCH"})
_PLATFORM_RULES = (
    RouteGroupRule("/v1/admin", "admin"),
    RouteGroupRule("/v1/jobs", "generation", frozenset({"POST"})),
    RouteGroupRule("/v1/jobs", "jobs"),
    RouteGroupRule("/v1/uploads", "uploads", _WRITES),
    RouteGroupRule("/v1/files", "uploads", _WRITES),
)


def _room_limits(rooms: tuple[AnyRoom, ...]) -> dict[str, str]:
    limits_: dict[str, str] = {}
    for room in rooms:
        for group, limit in room.group_limits.items():
            if group in _PLATFORM_GROUPS or group in limits_:
                raise ConfigurationError(f"room {room.name}: route group {group!r} exists already")
            limits_[group] = limit
    return limits_


_ROOM_LIMITS = _room_limits(ROOMS)
DEFAULT_RATE_LIMITS: dict[str, str] = {**_PLATFORM_LIMITS, **_ROOM_LIMITS}
# "general" stays last: the group of everything no rule names.
GROUPS = (*_PLATFORM_GROUPS[:-1], *_ROOM_LIMITS, "general")


def _rules(rooms: tuple[AnyRoom, ...]) -> tuple[tuple[str, frozenset[str] | None, str], ...]:
    room_rules = [rule for room in rooms for rule in room.route_groups]
    for rule in room_rules:
        if rule.group not in GROUPS or rule.group in SERVICE_ONLY_GROUPS:
            raise ConfigurationError(f"route {rule.prefix}: no route group {rule.group!r} to join")
    return tuple((r.prefix, r.methods, r.group) for r in (*room_rules, *_PLATFORM_RULES))


# (path prefix, methods or None for all, group), first match wins: plain tuples, since
# the gate reads them for every request, the hot path included.
_RULES = _rules(ROOMS)


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
