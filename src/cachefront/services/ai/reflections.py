"""Reflections: a caller's text answered through a server-side template, cached for everyone.

The request is normalized first (Unicode NFC, whitespace collapsed, trimmed), so the
same words typed twice are one request; the template renders it into a chat
completion at temperature 0, asked under the namespace of the template's version:
the route shares answers across callers (the prompt holds nothing of the caller but
the text), for at most five minutes. Quota and ledger still count against the caller.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from cachefront.services.ai.cache_control import CacheDirectives
from cachefront.services.ai.flight import FlightError
from cachefront.services.ai.models import CHAT, AiRequest
from cachefront.services.ai.reflection_templates import (
    TEMPLATE_VERSION,
    Language,
    Tone,
    render,
)
from cachefront.services.ai.service import AiService

__all__ = ["REFLECTION_MAX_AGE", "Reflection", "normalize", "reflect"]

# How old a shared reflection may be when served.
REFLECTION_MAX_AGE = 300
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


@dataclass(frozen=True, slots=True)
class Reflection:
    text: str
    model: str
    x_cache: str
    age: int | None

    def document(self, language: Language, tone: Tone) -> dict[str, Any]:
        return {
            "object": "reflection",
            "reflection": self.text,
            "language": language,
            "tone": tone,
            "template_version": TEMPLATE_VERSION,
            "model": self.model,
        }


async def reflect(
    service: AiService, caller: str, model: str, text: str, language: Language, tone: Tone
) -> Reflection:
    """The reflection of ``text``; raises ``AiRequestError`` or ``FlightError`` as answers do."""
    body = {
        "model": model,
        "messages": render(normalize(text), language, tone),
        "temperature": 0,
    }
    request = AiRequest(
        CHAT,
        body,
        # Dots, not colons: a namespace is a part of Redis keys.
        f"reflections.{TEMPLATE_VERSION}",
        CacheDirectives(max_age=REFLECTION_MAX_AGE),
        caller=caller,
    )
    delivery = await service.answer(request)
    assert delivery.body is not None
    try:
        answer = orjson.loads(delivery.body)
        content = answer["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise FlightError(502, "the provider's answer held no message") from None
    if not isinstance(content, str):
        raise FlightError(502, "the provider's answer held no text")
    return Reflection(content, str(answer.get("model", model)), delivery.x_cache, delivery.age)
