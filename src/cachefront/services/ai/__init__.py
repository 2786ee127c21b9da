"""The AI gateway room: an OpenAI-compatible surface with server-held keys, cached and coalesced."""

from __future__ import annotations

__all__: list[str] = []
