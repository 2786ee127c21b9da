"""The request's ``Cache-Control`` as the AI routes honour it, and the opt-in header."""

from __future__ import annotations

from dataclasses import dataclass

from cachefront.services.ai.openai_errors import AiRequestError

__all__ = ["OPT_IN_HEADER", "CacheDirectives", "opted_in", "parse_cache_control"]

# Caching answers of requests that are not temperature 0 is the caller's choice.
OPT_IN_HEADER = "x-cache-opt-in"


@dataclass(frozen=True, slots=True)
class CacheDirectives:
    """``no-cache``: skip the read, still store; ``no-store``: neither; ``max-age``: only
    answers at most that old; ``only-if-cached``: never call a provider (504 on a miss)."""

    no_cache: bool = False
    no_store: bool = False
    max_age: int | None = None
    only_if_cached: bool = False


def parse_cache_control(value: str | None) -> CacheDirectives:
    """The directives of a ``Cache-Control`` header; unknown ones are ignored (RFC 9111)."""
    if not value:
        return CacheDirectives()
    no_cache = no_store = only_if_cached = False
    max_age: int | None = None
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "only-if-cached":
            only_if_cached = True
        elif name == "max-age":
            seconds = argument.strip().strip('"')
            if not seconds.isdigit():
                raise AiRequestError(
                    400,
                    f"Cache-Control: max-age must be a whole number of seconds, got {seconds!r}",
                    param="Cache-Control",
                )
            max_age = int(seconds)
    return CacheDirectives(no_cache, no_store, max_age, only_if_cached)


def opted_in(value: str | None) -> bool:
    """Whether the caller asked for caching whatever the temperature (``X-Cache-Opt-In: 1``)."""
    return value is not None and value.strip().lower() in {"1", "true", "yes", "on"}
