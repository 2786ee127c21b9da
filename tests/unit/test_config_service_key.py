"""The service key must be long enough not to be guessed, and a refused one is never shown."""

from __future__ import annotations

import traceback

import pytest

from cachefront.config import MIN_SERVICE_KEY_CHARS, Settings
from cachefront.errors import ConfigurationError

SHORT_KEY = "hunter2-service"


def test_a_short_service_key_is_refused_naming_the_variable_and_not_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHEFRONT_SERVICE_KEY", SHORT_KEY)
    with pytest.raises(ConfigurationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = str(caught.value)
    assert message.startswith("CACHEFRONT_SERVICE_KEY: must be at least 32 characters")
    assert "Value error" not in message
    # Neither the message nor anything chained to it (a traceback in a log) holds the key.
    shown = "".join(traceback.format_exception(caught.value))
    assert SHORT_KEY not in shown


def test_a_service_key_of_the_minimum_length_is_accepted() -> None:
    key = "k" * MIN_SERVICE_KEY_CHARS
    settings = Settings(service_key=key, _env_file=None)  # type: ignore[call-arg]
    assert settings.service_key is not None
    assert settings.service_key.get_secret_value() == key


def test_other_refused_values_are_quoted_with_their_cause() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(port=-1, _env_file=None)  # type: ignore[call-arg]
    assert "CACHEFRONT_PORT" in str(caught.value)
    assert "(got -1)" in str(caught.value)
    assert caught.value.__cause__ is not None
