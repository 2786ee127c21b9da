"""The prices room's simulator commands: `cachefront simulate binance` and `... yahoo`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

__all__ = ["simulators"]

simulators = typer.Typer()

console = Console(stderr=True)


def _symbols(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


@simulators.command("binance")
def simulate_binance(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8902,
    latency_ms: Annotated[float, typer.Option(help="Delay before every answer")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 503")] = 0.0,
    rate_limit: Annotated[
        int, typer.Option(help="Request weight per minute before 429 (Binance: 6000)")
    ] = 6000,
    ban_seconds: Annotated[
        int, typer.Option(help="How long an IP continuing after a 429 is banned (418)")
    ] = 120,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated listed symbols (default a few majors)"),
    ] = None,
    symbol_pattern: Annotated[
        str | None,
        typer.Option(help="Regular expression of further symbols that exist"),
    ] = r"[A-Z0-9]{2,10}USDT",
) -> None:
    """Serve a Binance spot API simulator (real paths, weights and headers, synthetic prices)."""
    from cachefront.services.prices.simulators.binance import serve_binance

    listed = _symbols(symbols)
    options = {} if listed is None else {"symbols": listed}
    console.print(f"Binance simulator on http://{host}:{port}/api/v3/")
    serve_binance(
        host,
        port,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        ban_seconds=ban_seconds,
        symbol_pattern=symbol_pattern or None,
        **options,
    )


@simulators.command("yahoo")
def simulate_yahoo(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8903,
    latency_ms: Annotated[float, typer.Option(help="Delay before every answer")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 503")] = 0.0,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute before 429 (default unlimited)")
    ] = None,
    crumb_ttl: Annotated[float, typer.Option(help="Seconds a crumb stays valid")] = 3600.0,
    cookie_status: Annotated[
        int, typer.Option(help="Status of the cookie answer at / (fc.yahoo.com: 404)")
    ] = 200,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols that exist beyond the pattern")
    ] = None,
) -> None:
    """Serve a Yahoo Finance simulator (cookie, crumb, quote and chart APIs)."""
    from cachefront.services.prices.simulators.yahoo import serve_yahoo

    console.print(f"Yahoo simulator on http://{host}:{port} (cookie at /)")
    serve_yahoo(
        host,
        port,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        crumb_ttl_seconds=crumb_ttl,
        cookie_status=cookie_status,
        symbols=_symbols(symbols) or [],
    )
