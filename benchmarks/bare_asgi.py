"""The ceiling reference: a bare ASGI app returning pre-built bytes, under the same uvicorn.

Run by hit_throughput.py as `uvicorn bare_asgi:app`; it does nothing per request but
send, so it shows what the server and this machine allow before any of cachefront's work.
"""

from __future__ import annotations

from typing import Any

BODY = (
    b'{"body":"mars","at":"2026-11-24T12:00:00Z","ra_deg":151.9233763982295,'
    b'"dec_deg":13.819548667539848,"distance_au":1.2341092981289545,'
    b'"ecliptic_lon_deg":149.40181565931283,"ecliptic_lat_deg":2.142327520915533,'
    b'"speed_deg_per_day":0.40685142237555283,"retrograde":false,"provider":"local"}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
