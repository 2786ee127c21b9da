"""What the OpenAI-compatible simulator answers: deterministic, derived from the request.

The same request (``stream``, ``stream_options`` and ``user`` aside) always gets the
same words, tool call, usage and embedding, so tests and benchmarks can compare answers
byte for byte; a change of any other field changes them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = [
    "answer_words",
    "chat_chunks",
    "chat_completion",
    "embedding_vectors",
    "prompt_tokens",
    "request_digest",
]

_WORDS = [
    "the",
    "cache",
    "answers",
    "before",
    "the",
    "upstream",
    "is",
    "asked",
    "and",
    "every",
    "replay",
    "stays",
    "the",
    "same",
    "light",
    "moves",
    "quickly",
    "across",
    "quiet",
    "water",
    "while",
    "patient",
    "readers",
    "follow",
    "each",
    "line",
    "a",
    "small",
    "gateway",
    "keeps",
    "secrets",
    "on",
    "the",
    "server",
    "and",
    "merges",
    "identical",
    "questions",
]
_IGNORED = ("stream", "stream_options", "user")


def request_digest(body: dict[str, Any]) -> bytes:
    """The digest the answer derives from: the request without its delivery options."""
    kept = {key: value for key, value in body.items() if key not in _IGNORED}
    return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).digest()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def prompt_tokens(body: dict[str, Any]) -> int:
    """A stable token count: words of every message plus three per message."""
    messages = body.get("messages") or []
    return sum(len(_text_of(m.get("content")).split()) + 3 for m in messages if isinstance(m, dict))


def answer_words(body: dict[str, Any]) -> list[str]:
    """The words of the answer: 8 to 23 of them, fewer when ``max_tokens`` says so."""
    digest = request_digest(body)
    count = 8 + digest[0] % 16
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit > 0:
        count = min(count, limit)
    return [_WORDS[digest[1 + i % 31] % len(_WORDS)] for i in range(count)]


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or body.get("tool_choice") == "none":
        return None
    function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
    digest = request_digest(body).hex()
    return {
        "id": f"call_{digest[:24]}",
        "type": "function",
        "function": {
            "name": str(function.get("name", "tool")),
            "arguments": orjson.dumps({"query": " ".join(answer_words(body)[:3])}).decode(),
        },
    }


def _identity(body: dict[str, Any]) -> tuple[str, int, str]:
    digest = request_digest(body).hex()
    created = 1_700_000_000 + int(digest[:6], 16) % 10_000_000
    return f"chatcmpl-{digest[:29]}", created, str(body.get("model", ""))


def _usage(body: dict[str, Any], completion: int) -> dict[str, int]:
    prompt = prompt_tokens(body)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` object of a plain answer."""
    ident, created, model = _identity(body)
    words = answer_words(body)
    call = _tool_call(body)
    if call is not None:
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": " ".join(words), "refusal": None}
        finish = "stop"
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(body, len(words)),
        "system_fingerprint": "fp_cachefront_sim",
    }


def chat_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a streamed answer, as the real APIs send them (``[DONE]`` aside)."""
    ident, created, model = _identity(body)
    words = answer_words(body)
    call = _tool_call(body)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_cachefront_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if call is not None:
        arguments = call["function"]["arguments"]
        head = {"index": 0, "id": call["id"], "type": "function"}
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
                    ]
                }
            )
        )
        for start in range(0, len(arguments), 8):
            piece = arguments[start : start + 8]
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        chunks.append(chunk({}, "tool_calls"))
    else:
        for index, word in enumerate(words):
            chunks.append(chunk({"content": word if index == 0 else " " + word}))
        chunks.append(chunk({}, "stop"))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        usage_chunk = chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = _usage(body, len(words))
        chunks.append(usage_chunk)
    return chunks


def embedding_vectors(body: dict[str, Any]) -> dict[str, Any]:
    """The ``list`` of embeddings for ``input`` (a string or a list of them)."""
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) else [raw]
    asked = body.get("dimensions")
    dimensions = asked if isinstance(asked, int) and 0 < asked <= 4096 else 8
    data = []
    tokens = 0
    for index, text in enumerate(inputs):
        seed = hashlib.sha256(f"{body.get('model')}|{text}".encode()).digest()
        vector = [round((seed[i % 32] - 127.5) / 127.5, 6) for i in range(dimensions)]
        data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens += len(str(text).split())
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
