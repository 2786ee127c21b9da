"""The event-stream reader against httpx's line decoder, on any split of the same bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from cachefront.services.ai.providers.sse import sse_payloads


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(parts: list[bytes]) -> list[bytes]:
    return [payload async for payload in sse_payloads(_chunks(parts))]


def _by_lines(stream: bytes) -> list[bytes]:
    """What the gateway read before, through httpx's text and line decoders."""
    decoder = httpx._decoders.LineDecoder()  # the decoder of Response.aiter_lines
    lines = decoder.decode(stream.decode()) + decoder.flush()
    payloads: list[bytes] = []
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            payloads.append("\n".join(data).encode())
            data = []
    if data:
        payloads.append("\n".join(data).encode())
    return payloads


async def test_events_of_a_chat_stream() -> None:
    stream = (
        b'data: {"id":"1","choices":[{"delta":{"content":"Hi"}}]}\n\n'
        b": keep-alive comment\n\n"
        b"event: message\ndata: first\ndata:second\n\n"
        b"data: [DONE]\n\n"
    )
    assert await _read([stream]) == [
        b'{"id":"1","choices":[{"delta":{"content":"Hi"}}]}',
        b"first\nsecond",
        b"[DONE]",
    ]


async def test_crlf_split_between_chunks_ends_one_line_only() -> None:
    assert await _read([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [b"a\nb"]


async def test_an_unfinished_last_event_is_still_sent() -> None:
    assert await _read([b"data: [DO", b"NE]"]) == [b"[DONE]"]


_PIECES = st.sampled_from(
    [b"data: x", b"data:y", b"data:  z", b"\n", b"\r\n", b"\r", b": c", b"id: 1", b"\xc3\xa9"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30), st.lists(st.integers(0, 200), max_size=6))
async def test_any_split_reads_as_the_line_decoder_does(
    pieces: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(pieces)
    points = sorted({min(cut, len(stream)) for cut in cuts})
    parts = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert await _read(parts) == _by_lines(stream)
