"""Provider settings: one provider or a JSON list, the catalog's chains, and errors that
name the field at fault without ever quoting a key."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from cachefront.config import Settings, masked_settings
from cachefront.errors import ConfigurationError
from cachefront.redis_keys import flight_chunks_key, flight_lock_key
from cachefront.services.ai.providers import Catalog, provider_configs
from cachefront.services.ai.settings import AiSettings

SECRET = "sk-very-secret-value-1234567890"


def test_one_provider_from_the_simple_settings() -> None:
    configs = provider_configs(
        AiSettings(
            _env_file=None,  # type: ignore[call-arg]
            ai_base_url="https://api.groq.com/openai/v1/",
            ai_api_key=SecretStr(SECRET),
            ai_model="llama-3.1-8b-instant",
        )
    )
    assert [c.name for c in configs] == ["primary"]
    assert configs[0].base_url == "https://api.groq.com/openai/v1"
    assert configs[0].aliases == {"default": "llama-3.1-8b-instant"}


def test_no_provider_configured() -> None:
    assert provider_configs(AiSettings(_env_file=None)) == []  # type: ignore[call-arg]


def test_a_bad_entry_names_the_field_and_never_the_key() -> None:
    raw = json.dumps([{"name": "Bad Name!", "base_url": "ftp://x", "api_key": SECRET}])
    with pytest.raises(ConfigurationError) as refused:
        provider_configs(AiSettings(_env_file=None, ai_providers=SecretStr(raw)))  # type: ignore[call-arg]
    message = str(refused.value)
    assert "CACHEFRONT_AI_PROVIDERS[0]" in message
    assert "name" in message
    assert "base_url" in message
    assert SECRET not in message


def test_the_providers_list_is_masked_in_config() -> None:
    raw = json.dumps([{"name": "groq", "base_url": "https://x/v1", "api_key": SECRET}])
    settings = Settings(_env_file=None, ai_providers=raw, ai_api_key=SECRET)  # type: ignore[call-arg]
    shown = json.dumps(masked_settings(settings), default=str)
    assert SECRET not in shown
    assert masked_settings(settings)["ai_providers"] == "**********"


def test_the_catalog_chains_aliases_and_models_in_provider_order() -> None:
    catalog: Catalog[str] = Catalog(
        [
            ("a", "A", ["m-a"], {"fast": "m-a"}),
            ("b", "B", ["m-b", "m-a"], {"fast": "m-b"}),
        ]
    )
    assert [(t.provider_name, t.model) for t in catalog.resolve("fast")] == [
        ("a", "m-a"),
        ("b", "m-b"),
    ]
    assert [t.provider_name for t in catalog.resolve("m-a")] == ["a", "b"]
    assert catalog.resolve("unknown") == []
    assert catalog.names() == [("fast", "a"), ("m-a", "a"), ("m-b", "b")]


def test_flight_key_schemas() -> None:
    assert flight_lock_key("cf", "ai", "abc") == "cf:v1:flight:lock:ai:abc"
    assert flight_chunks_key("cf", "ai", "abc", "f1") == "cf:v1:flight:chunks:ai:abc:f1"
