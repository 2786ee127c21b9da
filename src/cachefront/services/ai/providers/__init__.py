"""The providers the AI room calls: their configuration, the catalog of models, the calls."""

from __future__ import annotations

from cachefront.services.ai.providers.catalog import Catalog, Target
from cachefront.services.ai.providers.config import ProviderConfig, provider_configs
from cachefront.services.ai.providers.openai_compatible import (
    OpenAICompatibleProvider,
    ProviderAnswer,
    ProviderFailure,
    ProviderStream,
)

__all__ = [
    "Catalog",
    "OpenAICompatibleProvider",
    "ProviderAnswer",
    "ProviderConfig",
    "ProviderFailure",
    "ProviderStream",
    "Target",
    "provider_configs",
]
