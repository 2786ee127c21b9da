"""RateLimit and RateLimit-Policy response headers (IETF draft-ietf-httpapi-ratelimit-headers).

    RateLimit-Policy: "upstream";q=100;w=60     the quota: 100 requests per 60 s window
    RateLimit: "upstream";r=42;t=17             42 left; the window resets in 17 s

Values are structured fields (RFC 9651): the policy name is a string item, ``q`` the
quota, ``w`` the window in seconds, ``r`` what remains and ``t`` seconds to reset.
"""

from __future__ import annotations

__all__ = ["policy_header", "ratelimit_header"]


def policy_header(group: str, quota: int, window_seconds: int) -> bytes:
    return b'"%s";q=%d;w=%d' % (group.encode(), quota, window_seconds)


def ratelimit_header(group: str, remaining: int, reset_seconds: int) -> bytes:
    return b'"%s";r=%d;t=%d' % (group.encode(), remaining, reset_seconds)
