"""The cache key of an answer: the whole request, canonical, plus who asks and who answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cachefront.services.ai.keys import answer_key, is_repeatable

BASE: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "user", "content": "hello"}],
    "temperature": 0,
    "max_tokens": 50,
}


def key(body: dict[str, Any], **who: str) -> str:
    parts = {"provider": "p1", "model": "m1", "namespace": "key:1", **who}
    return answer_key("/chat/completions", body, **parts)


def test_reordered_json_keys_give_the_same_key() -> None:
    reordered = orjson.loads(
        b'{"max_tokens": 50, "temperature": 0, "messages": [{"content": "hello", "role": "user"}],'
        b' "model": "chat"}'
    )
    assert key(reordered) == key(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"max_tokens": 51},
        {"seed": 7},
        {"stop": ["\n"]},
        {"presence_penalty": 0.1},
        {"frequency_penalty": 0.1},
        {"logit_bias": {"50256": -100}},
        {"n": 2},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "auto"},
        {"response_format": {"type": "json_object"}},
        {"messages": [{"role": "user", "content": "hello!"}]},
        {"model": "other"},
        {"some_future_field": True},
    ],
)
def test_any_other_field_changed_gives_another_key(change: dict[str, Any]) -> None:
    assert key({**BASE, **change}) != key(BASE)


@pytest.mark.parametrize(
    "delivery",
    [{"stream": True}, {"stream_options": {"include_usage": True}}, {"user": "u-42"}],
)
def test_delivery_fields_do_not_change_the_key(delivery: dict[str, Any]) -> None:
    assert key({**BASE, **delivery}) == key(BASE)


@pytest.mark.parametrize("who", [{"provider": "p2"}, {"model": "m2"}, {"namespace": "key:2"}])
def test_provider_model_and_caller_are_part_of_the_key(who: dict[str, str]) -> None:
    assert key(BASE, **who) != key(BASE)


def test_the_route_is_part_of_the_key() -> None:
    plain = answer_key("/embeddings", BASE, provider="p1", model="m1", namespace="key:1")
    assert plain != key(BASE)


@pytest.mark.parametrize(
    ("body", "opted_in", "repeatable"),
    [
        ({"temperature": 0}, False, True),
        ({"temperature": 0.0}, False, True),
        ({}, False, False),  # omitted: the provider's default samples
        ({"temperature": 0.7}, False, False),
        ({"temperature": False}, False, False),  # a boolean is not the number 0
        ({"temperature": "0"}, False, False),
        ({"temperature": 0.7}, True, True),
        ({}, True, True),
    ],
)
def test_only_repeatable_requests_are_cached(
    body: dict[str, Any], opted_in: bool, repeatable: bool
) -> None:
    assert is_repeatable(body, opted_in=opted_in) is repeatable
