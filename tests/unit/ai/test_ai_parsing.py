"""Small parsers of the AI room: Cache-Control, provider wait hints, stored answers, errors."""

from __future__ import annotations

import orjson
import pytest

from cachefront.services.ai.cache_control import CacheDirectives, opted_in, parse_cache_control
from cachefront.services.ai.models import CHAT, EMBEDDINGS, parse_body
from cachefront.services.ai.openai_errors import AiRequestError, error_body, problem_as_openai
from cachefront.services.ai.providers.wait_hints import parse_reset_duration, wait_hint
from cachefront.services.ai.stored import StoredAnswer, decode_answer, encode_answer


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, CacheDirectives()),
        ("no-cache", CacheDirectives(no_cache=True)),
        ("No-Store", CacheDirectives(no_store=True)),
        ("max-age=30", CacheDirectives(max_age=30)),
        ('max-age="5", only-if-cached', CacheDirectives(max_age=5, only_if_cached=True)),
        ("private, no-transform", CacheDirectives()),
    ],
)
def test_cache_control(header: str | None, expected: CacheDirectives) -> None:
    assert parse_cache_control(header) == expected


def test_a_bad_max_age_is_a_400_naming_it() -> None:
    with pytest.raises(AiRequestError) as refused:
        parse_cache_control("max-age=soon")
    assert refused.value.status == 400
    assert "max-age" in refused.value.message


def test_opt_in_header() -> None:
    assert opted_in("1")
    assert opted_in("true")
    assert not opted_in(None)
    assert not opted_in("0")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2m59.56s", 179.56), ("7.66s", 7.66), ("120ms", 0.12), ("1h2m", 3720.0), ("3", 3.0)],
)
def test_reset_durations(value: str, seconds: float) -> None:
    assert parse_reset_duration(value) == pytest.approx(seconds)


def test_wait_hint_prefers_retry_after_then_the_longest_reset() -> None:
    assert wait_hint({"retry-after": "4", "x-ratelimit-reset-requests": "9s"}) == 4.0
    both = {"x-ratelimit-reset-requests": "1.5s", "x-ratelimit-reset-tokens": "6s"}
    assert wait_hint(both) == 6.0
    assert wait_hint({"x-ratelimit-reset-tokens": "soon"}) is None
    assert wait_hint({}) is None


def test_stored_answers_round_trip() -> None:
    plain = StoredAnswer(False, (b'{"id": "x"}',))
    stream = StoredAnswer(True, (b'{"a": 1}', b'{"b": "\\u00e9"}', b"[DONE]"))
    assert decode_answer(encode_answer(plain)) == plain
    assert decode_answer(encode_answer(stream)) == stream
    assert decode_answer(b"Zwhat") is None


def test_openai_error_shape() -> None:
    doc = orjson.loads(error_body(429, "slow down"))
    assert doc == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    problem = {"status": 422, "detail": "body: bad", "errors": [{"field": "body.x"}]}
    reshaped = orjson.loads(problem_as_openai(422, problem))["error"]
    assert reshaped["message"] == "body: bad"
    assert reshaped["param"] == "body.x"


@pytest.mark.parametrize(
    ("route", "raw", "param"),
    [
        (CHAT, b"not json", None),
        (CHAT, b"[]", None),
        (CHAT, b'{"messages": [{"role": "user"}]}', "model"),
        (CHAT, b'{"model": "m", "messages": []}', "messages"),
        (CHAT, b'{"model": "m", "messages": ["hi"]}', "messages"),
        (CHAT, b'{"model": "m", "messages": [{}], "stream": "yes"}', "stream"),
        (CHAT, b'{"model": "m", "messages": [{}], "stream_options": 1}', "stream_options"),
        (EMBEDDINGS, b'{"model": "m", "input": ""}', "input"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(route: str, raw: bytes, param: str | None) -> None:
    with pytest.raises(AiRequestError) as refused:
        parse_body(route, raw)
    assert refused.value.status == 400
    assert refused.value.param == param


def test_bodies_pass_unknown_fields_through_in_order() -> None:
    raw = b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "zeta": 1, "alpha": 2}'
    assert list(parse_body(CHAT, raw)) == ["model", "messages", "zeta", "alpha"]
