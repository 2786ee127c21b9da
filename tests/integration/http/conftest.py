"""The fixtures of tests through real HTTP, shared with tests/faults/."""

from __future__ import annotations

from http_fixtures import empty_cache, serve_app, settings_for, simulator, simulator_session

__all__ = ["empty_cache", "serve_app", "settings_for", "simulator", "simulator_session"]
