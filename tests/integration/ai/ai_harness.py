"""Constants and helpers of the AI gateway tests, shared by their conftest and modules."""

from __future__ import annotations

import json
from typing import Any

import httpx

from cachefront.services.ai.simulator import RunningOpenAISimulator

# The gateway's service key, and the keys it holds for each simulated provider.
SERVICE_KEY = "svc-" + "k" * 40
PRIMARY_KEY = "sk-primary-secret-" + "p" * 24
SECONDARY_KEY = "sk-secondary-secret-" + "s" * 24


def providers_json(*providers: tuple[str, RunningOpenAISimulator, str]) -> str:
    """CACHEFRONT_AI_PROVIDERS for simulators: each serves its models and the alias `chat`."""
    return json.dumps(
        [
            {
                "name": name,
                "base_url": sim.base_url,
                "api_key": key,
                "models": ["sim-small", "sim-embed"],
                "aliases": {"chat": "sim-small", "embed": "sim-embed"},
                "budget": "100000/minute",
            }
            for name, sim, key in providers
        ]
    )


async def stream_events(
    client: httpx.AsyncClient, body: dict[str, Any], *, base: str = ""
) -> tuple[str, list[str]]:
    """A streamed chat completion through the gateway at ``base`` (or the client's own):
    its ``X-Cache`` and its ``data:`` lines, read to the end."""
    async with client.stream("POST", base + "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [line async for line in response.aiter_lines() if line.startswith("data: ")]
        return response.headers["x-cache"], events
