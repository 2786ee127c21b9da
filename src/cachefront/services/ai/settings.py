"""The AI room's settings: its providers (one, or several as JSON), caching, tokens and prices.

Read from the same environment as the platform's (``CACHEFRONT_AI_BASE_URL``,
``CACHEFRONT_AI_PROVIDERS``, ...); the platform's ``Settings`` holds one of these:
``settings.room(AiSettings)``. Provider keys are secrets: ``CACHEFRONT_AI_PROVIDERS``
holds them too, so the whole list is a secret and ``cachefront config`` masks it.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from cachefront.config import RoomSettings

__all__ = ["AiSettings"]


class AiSettings(RoomSettings):
    """Everything the AI room reads from ``CACHEFRONT_*``."""

    ai_base_url: str | None = Field(
        default=None,
        description="Base URL of one OpenAI-compatible provider, e.g. "
        "https://api.groq.com/openai/v1 (ignored when CACHEFRONT_AI_PROVIDERS is set).",
    )
    ai_api_key: SecretStr | None = Field(
        default=None, description="The key of that provider, sent as a Bearer token."
    )
    ai_model: str | None = Field(
        default=None,
        description="The model of that provider callers get; also its alias `default`.",
    )
    ai_providers: SecretStr | None = Field(
        default=None,
        description='JSON list of providers: [{"name", "base_url", "api_key", "models", '
        '"aliases": {"alias": "model"}, "budget"}]; a model or alias several providers '
        "serve is tried in this order (the fallback chain).",
    )
    ai_cache_seconds: float = Field(
        default=300.0, ge=0, description="How long a repeatable answer is served from cache."
    )
    ai_daily_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Tokens a caller may use per UTC day (unset: no limit); each request "
        "holds its maximum (prompt estimate + max_tokens) until it settles.",
    )
    ai_requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Provider calls a caller may start per minute (unset: no limit); "
        "cache hits do not count.",
    )
    ai_answer_cap: int = Field(
        default=1024,
        ge=1,
        description="Tokens an answer is assumed to use at most when the request names no "
        "max_tokens, for the quota's hold.",
    )
    ai_reflection_model: str = Field(
        default="default",
        description="The model or alias POST /v1/ai/reflections asks (`default`: the one of "
        "CACHEFRONT_AI_MODEL).",
    )
    ai_generation_model: str = Field(
        default="default",
        description="The model or alias ai-generation jobs ask unless their params name one.",
    )
    ai_generation_url: str | None = Field(
        default=None,
        description="Base URL of a gateway server (this deployment's) that ai-generation "
        "steps are asked of, as the service; unset: the worker's own gateway. Over HTTP a "
        "step's call outlives a worker killed during it.",
    )
    ai_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description='JSON {"model": [input, output]} prices in USD per million tokens.',
    )
    ai_budget: str = Field(
        default="600/minute",
        description="Outbound budget of each provider in the `limits` notation, unless its "
        "entry in CACHEFRONT_AI_PROVIDERS names one.",
    )
    ai_deadline_seconds: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="The whole time one request may spend on providers, retries and "
        "fallbacks included.",
    )
    ai_usage_keep_days: int = Field(
        default=90,
        ge=1,
        description="Days the usage ledger (ai_usage) keeps its rows; older ones are "
        "deleted by the daily ai-retention task.",
    )
    ai_generation_keep_days: int = Field(
        default=30,
        ge=1,
        description="Days the stored steps of an ai-generation job are kept after the job "
        "finished; the daily ai-retention task deletes older ones.",
    )
