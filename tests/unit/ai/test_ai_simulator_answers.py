"""The simulator's answers: deterministic, in the shapes of the recorded real answers."""

from __future__ import annotations

from typing import Any

import orjson

from cachefront.services.ai.simulator_answers import (
    answer_words,
    chat_chunks,
    chat_completion,
    embedding_vectors,
)

BODY: dict[str, Any] = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def test_the_same_request_gets_the_same_answer_and_another_request_another() -> None:
    assert chat_completion(BODY) == chat_completion({**BODY, "stream": False, "user": "u"})
    assert chat_completion(BODY) != chat_completion({**BODY, "seed": 1})
    assert len(answer_words({**BODY, "max_tokens": 3})) == 3


def test_stream_chunks_follow_the_real_sequence() -> None:
    chunks = chat_chunks({**BODY, "stream": True, "stream_options": {"include_usage": True}})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    finish = chunks[-2]["choices"][0]
    assert finish["delta"] == {}
    assert finish["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert len({chunk["id"] for chunk in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-2])
    assert text == chat_completion(BODY)["choices"][0]["message"]["content"]


def test_chunks_have_the_fields_of_real_chunks() -> None:
    chunk = chat_chunks({**BODY, "stream": True})[1]
    assert set(chunk) == {"id", "object", "created", "model", "system_fingerprint", "choices"}
    assert set(chunk["choices"][0]) == {"index", "delta", "logprobs", "finish_reason"}
    assert chunk["object"] == "chat.completion.chunk"


def test_tools_give_a_tool_call_plain_and_streamed() -> None:
    body = {**BODY, "tools": TOOLS}
    message = chat_completion(body)["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    call = message["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    streamed = chat_chunks({**body, "stream": True})
    deltas = [c["choices"][0]["delta"] for c in streamed if c["choices"]]
    arguments = "".join(
        d["tool_calls"][0]["function"]["arguments"] for d in deltas if "tool_calls" in d
    )
    assert orjson.loads(arguments) == orjson.loads(call["function"]["arguments"])
    assert streamed[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chat_completion({**body, "tool_choice": "none"})["choices"][0]["finish_reason"] == "stop"


def test_embeddings_are_deterministic_per_input() -> None:
    first = embedding_vectors({"model": "e", "input": ["a", "b"], "dimensions": 4})
    assert [len(item["embedding"]) for item in first["data"]] == [4, 4]
    assert first == embedding_vectors({"model": "e", "input": ["a", "b"], "dimensions": 4})
    assert first["data"][0]["embedding"] != first["data"][1]["embedding"]
