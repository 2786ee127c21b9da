"""Provider configuration: the entries of ``CACHEFRONT_AI_PROVIDERS``, or the single provider."""

from __future__ import annotations

import re

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from cachefront.errors import ConfigurationError
from cachefront.services.ai.settings import AiSettings

__all__ = ["DEFAULT_ALIAS", "ProviderConfig", "provider_configs"]

# The alias the single-provider settings give their model, so callers need not know it.
DEFAULT_ALIAS = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class ProviderConfig(BaseModel):
    """One OpenAI-compatible provider: where it is, its key, what it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    base_url: str
    api_key: SecretStr | None = None
    models: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    budget: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        # The name becomes an upstream client's name, in budgets, breakers and metrics.
        if not _NAME.match(value):
            raise ValueError("a provider name is lowercase letters, digits, '-' and '_'")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")


def _from_json(raw: str) -> list[ProviderConfig]:
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"CACHEFRONT_AI_PROVIDERS: not JSON ({exc.msg})") from None
    if not isinstance(items, list) or not items:
        raise ConfigurationError("CACHEFRONT_AI_PROVIDERS: a non-empty JSON list is expected")
    configs: list[ProviderConfig] = []
    for index, item in enumerate(items):
        try:
            configs.append(ProviderConfig.model_validate(item))
        except ValidationError as exc:
            # Name each field at fault, never the values: an entry holds a key.
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigurationError(f"CACHEFRONT_AI_PROVIDERS[{index}]: {problems}") from None
    names = [config.name for config in configs]
    if len(set(names)) != len(names):
        raise ConfigurationError("CACHEFRONT_AI_PROVIDERS: provider names must differ")
    return configs


def provider_configs(settings: AiSettings) -> list[ProviderConfig]:
    """The configured providers in chain order; empty when none is configured."""
    if settings.ai_providers is not None:
        return _from_json(settings.ai_providers.get_secret_value())
    if settings.ai_base_url is None:
        return []
    if not settings.ai_model:
        raise ConfigurationError("CACHEFRONT_AI_MODEL: required with CACHEFRONT_AI_BASE_URL")
    try:
        return [
            ProviderConfig(
                name="primary",
                base_url=settings.ai_base_url,
                api_key=settings.ai_api_key,
                models=(settings.ai_model,),
                aliases={DEFAULT_ALIAS: settings.ai_model},
            )
        ]
    except ValidationError as exc:
        raise ConfigurationError(f"CACHEFRONT_AI_BASE_URL: {exc.errors()[0]['msg']}") from None
