"""What a request may use at most, held against the caller's quota before the call.

No tokenizer is shipped: a token is taken as four characters of the prompt's text
(OpenAI's rule of thumb for English, generous for most other languages' BPE), plus a
few per message for the roles and separators; the answer may use ``max_tokens`` (or
``max_completion_tokens``), or the server's default cap when the request names none.
The real usage replaces the hold when the call settles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cachefront.services.ai.models import EMBEDDINGS

__all__ = ["CHARS_PER_TOKEN", "maximum_tokens", "prompt_estimate"]

CHARS_PER_TOKEN = 4
# Roles, names and separators of one message, as OpenAI counts them.
_PER_MESSAGE = 4


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if value is None:
        return 0
    # Content parts, tool calls and tool definitions: their JSON is what is tokenized.
    return len(orjson.dumps(value))


def prompt_estimate(route: str, body: Mapping[str, Any]) -> int:
    """The prompt's tokens, rounded up."""
    if route == EMBEDDINGS:
        return -(-_chars(body.get("input")) // CHARS_PER_TOKEN) + 1
    messages = body.get("messages")
    count = 0
    chars = _chars(body.get("tools"))
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                count += 1
                chars += _chars(message.get("content")) + _chars(message.get("tool_calls"))
    return -(-chars // CHARS_PER_TOKEN) + _PER_MESSAGE * count


def maximum_tokens(route: str, body: Mapping[str, Any], default_cap: int) -> int:
    """The prompt estimate plus the most the answer may use."""
    prompt = prompt_estimate(route, body)
    if route == EMBEDDINGS:
        return prompt
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else default_cap
    return prompt + answer
