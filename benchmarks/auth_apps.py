"""App factories for the auth benchmark: the same app with the gate, and without it."""

from __future__ import annotations

from starlette.types import ASGIApp

from cachefront.app import create_app


def ungated() -> ASGIApp:
    return create_app(gate=False)
