"""The ``data`` payloads of a server-sent event stream, read from its bytes as they arrive.

Reading events through httpx's text and line decoders turned every chunk into text and
every payload back into bytes; this splits the bytes themselves. The rules are the
event-stream format's: lines end in CRLF, LF or CR (a chunk ending in CR may be followed
by one starting with the LF of the same CRLF); ``data:`` lines (one leading space
dropped) gather into one payload joined by LF, sent at the blank line that ends the
event; other fields and comments are ignored; what is gathered when the stream ends,
an unfinished last line included, is sent too.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["sse_payloads"]

_DATA = b"data:"


def _value(line: bytes) -> bytes:
    value = line[5:]
    return value[1:] if value.startswith(b" ") else value


async def sse_payloads(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Each event's ``data`` payload, in order, as soon as the event is complete."""
    pending = b""  # the start of a line whose end has not come yet
    after_cr = False  # the last chunk ended in CR: an LF first in the next belongs to it
    data: list[bytes] = []
    async for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if not chunk:
            continue
        after_cr = chunk.endswith(b"\r")
        text = pending + chunk
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        pending = lines.pop()  # b"" when the chunk ended a line
        for line in lines:
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(_DATA):
                data.append(_value(line))
    if pending.startswith(_DATA):
        data.append(_value(pending))
    if data:
        yield b"\n".join(data)
