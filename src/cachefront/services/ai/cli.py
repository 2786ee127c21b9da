"""The AI room's commands: ``cachefront simulate openai``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

__all__ = ["simulators"]

simulators = typer.Typer()
console = Console(stderr=True)


@simulators.command("openai")
def simulate_openai(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8902,
    latency_ms: Annotated[float, typer.Option(help="Delay before every answer")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 503")] = 0.0,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute before 429 (default unlimited)")
    ] = None,
    tokens_per_second: Annotated[
        float | None, typer.Option(help="Pace of streamed chunks (default as fast as possible)")
    ] = None,
) -> None:
    """Serve an OpenAI-compatible API simulator (real formats, answers derived from the request)."""
    from cachefront.services.ai.simulator import serve

    console.print(f"OpenAI simulator on http://{host}:{port}/v1")
    serve(
        host,
        port,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        tokens_per_second=tokens_per_second,
    )
