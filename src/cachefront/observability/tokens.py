"""The dashboard's logins: one-time links exchanged for a session cookie, the way Jupyter's work.

``cachefront dashboard-url`` makes a login token (random, valid ``LOGIN_SECONDS``,
single use) and prints a link with it. Opening the link uses the token up and opens a
session (another random token, valid ``SESSION_SECONDS``) sent back as an HttpOnly,
SameSite=Strict cookie. Only SHA-256 hashes are stored, so the table holds nothing a
reader could log in with; every process checks sessions in the same table.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

__all__ = [
    "LOGIN_SECONDS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "exchange_login",
    "new_login_token",
    "session_is_valid",
]

QUERIES = load_queries("cachefront.observability")
LOGIN_SECONDS = 300
SESSION_SECONDS = 12 * 3600
SESSION_COOKIE = "cachefront_dashboard"
# Longer tokens are not ours: refused before any hashing or lookup.
_MAX_TOKEN_CHARS = 128


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _store(engine: AsyncEngine, kind: str, seconds: int) -> str:
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            QUERIES.text("insert_dashboard_token"),
            {"token_hash": _hash(token), "kind": kind, "seconds": seconds},
        )
        await conn.execute(QUERIES.text("prune_dashboard_tokens"))
    return token


async def new_login_token(engine: AsyncEngine, *, seconds: int = LOGIN_SECONDS) -> str:
    return await _store(engine, "login", seconds)


async def exchange_login(engine: AsyncEngine, token: str) -> str | None:
    """A new session token for a valid, unused login token (now used up); else None."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    async with engine.begin() as conn:
        used = (
            await conn.execute(QUERIES.text("use_login_token"), {"token_hash": _hash(token)})
        ).first()
    if used is None:
        return None
    return await _store(engine, "session", SESSION_SECONDS)


async def session_is_valid(engine: AsyncEngine, token: str | None) -> bool:
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return False
    async with engine.connect() as conn:
        found = await conn.execute(QUERIES.text("session_valid"), {"token_hash": _hash(token)})
        return found.first() is not None
