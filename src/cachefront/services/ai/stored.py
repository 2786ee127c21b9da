"""How an answer is kept: a plain JSON body, or a stream's payloads in order.

One byte says which; a stream is kept only whole (``[DONE]`` last), so a replay sends
exactly the chunks the provider sent, tool-call deltas and usage included.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["StoredAnswer", "decode_answer", "encode_answer"]

_PLAIN = b"P"
_STREAM = b"S"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """``payloads``: one JSON body when plain; the SSE ``data`` payloads of a stream."""

    stream: bool
    payloads: tuple[bytes, ...]


def encode_answer(answer: StoredAnswer) -> bytes:
    if not answer.stream:
        return _PLAIN + answer.payloads[0]
    return _STREAM + orjson.dumps([payload.decode() for payload in answer.payloads])


def decode_answer(value: bytes) -> StoredAnswer | None:
    """The answer, or None for a value this version does not know how to read."""
    kind, data = value[:1], value[1:]
    if kind == _PLAIN:
        return StoredAnswer(False, (data,))
    if kind == _STREAM:
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return StoredAnswer(True, tuple(str(item).encode() for item in items))
    return None
