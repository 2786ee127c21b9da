"""Readable messages from pydantic validation errors, for HTTP problems and job params alike.

Pydantic prefixes the message of an error a validator raised as ``ValueError`` with
"Value error, " (and of an assertion with "Assertion failed, "): words about the
implementation, not about the input. Callers show these messages instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["error_message"]

_PREFIXES = {"value_error": "Value error, ", "assertion_error": "Assertion failed, "}


def error_message(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error (an item of ``errors()``), without its prefix."""
    message = str(error.get("msg") or "invalid")
    prefix = _PREFIXES.get(str(error.get("type", "")))
    return message.removeprefix(prefix) if prefix else message
