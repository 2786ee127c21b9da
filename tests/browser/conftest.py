"""Fixtures of the tests in a real browser: the HTTP tests' simulator, settings and servers."""

from __future__ import annotations

from http_fixtures import empty_cache, serve_app, settings_for, simulator, simulator_session

__all__ = ["empty_cache", "serve_app", "settings_for", "simulator", "simulator_session"]
