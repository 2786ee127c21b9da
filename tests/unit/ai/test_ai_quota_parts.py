"""The quota's pure parts: a request's maximum, OpenAI's reset durations, the windows' resets."""

from __future__ import annotations

from datetime import UTC, datetime

from cachefront.services.ai.estimate import maximum_tokens, prompt_estimate
from cachefront.services.ai.models import CHAT, EMBEDDINGS
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.quota_headers import QuotaState, duration, ratelimit_headers


def test_the_maximum_is_the_prompt_plus_max_tokens_or_the_cap() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 40}]}
    assert prompt_estimate(CHAT, body) == 10 + 4
    assert maximum_tokens(CHAT, body, 500) == 14 + 500
    assert maximum_tokens(CHAT, {**body, "max_tokens": 7}, 500) == 14 + 7
    assert maximum_tokens(CHAT, {**body, "max_completion_tokens": 9}, 500) == 14 + 9
    # A nonsense cap is not trusted: the server's default holds.
    assert maximum_tokens(CHAT, {**body, "max_tokens": True}, 500) == 14 + 500
    assert maximum_tokens(EMBEDDINGS, {"model": "e", "input": "y" * 8}, 500) == 3


def test_tools_count_towards_the_prompt() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    assert prompt_estimate(CHAT, {**body, "tools": tools}) > prompt_estimate(CHAT, body)


def test_durations_are_written_as_openai_does() -> None:
    assert duration(0.02) == "20ms"
    assert duration(59.2) == "1m0s"
    assert duration(1) == "1s"
    assert duration(360) == "6m0s"
    assert duration(3 * 3600 + 125) == "3h2m5s"


def test_the_refused_window_decides_retry_after() -> None:
    now = datetime(2026, 12, 1, 23, 59, 30, tzinfo=UTC)
    by_requests = QuotaState(now, 10, 5, 1000, 5)
    assert by_requests.retry_after(1) == 30
    by_tokens = QuotaState(now, 1000, 1, 1000, 5)
    assert by_tokens.retry_after(1) == 30  # midnight is 30 s away too
    noon = QuotaState(datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC), 1000, 1, 1000, 5)
    assert noon.retry_after(1) == 12 * 3600
    headers = ratelimit_headers(noon)
    assert headers["x-ratelimit-remaining-tokens"] == "0"
    assert headers["x-ratelimit-reset-tokens"] == "12h0m0s"
    assert headers["x-ratelimit-remaining-requests"] == "4"
    assert "x-ratelimit-limit-tokens" not in ratelimit_headers(QuotaState(now, 0, 0, None, 3))


def test_prices_are_per_million_and_unknown_models_cost_nothing() -> None:
    table = PriceTable({"m": (2.0, 8.0)})
    assert table.cost("m", 1_000_000, 500_000) == 6.0
    assert table.cost("other", 10, 10) == 0.0
