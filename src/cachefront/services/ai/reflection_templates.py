"""The server's versioned prompt templates of ``POST /v1/ai/reflections``, per language and tone.

The prompt is built here, never sent by the client, so an app cannot be made to
run another prompt on the server's keys. A template's text may only change under a
new ``TEMPLATE_VERSION``: the version is part of every cached reflection's key, so a
changed template is never answered from what the old one produced.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["LANGUAGES", "TEMPLATE_VERSION", "TONES", "Language", "Tone", "render"]

TEMPLATE_VERSION = "reflection-2026-12-01"

Language = Literal["en", "fr", "ar"]
Tone = Literal["gentle", "encouraging", "direct", "neutral"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "ar")
TONES: tuple[Tone, ...] = ("gentle", "encouraging", "direct", "neutral")

_SYSTEM: dict[Language, str] = {
    "en": (
        "You are a thoughtful companion. Read the person's words and write a short "
        "reflection (two to four sentences) in English, in a {tone} tone. Mirror what "
        "they feel and what matters to them; do not give medical or legal advice, and "
        "do not repeat their words back verbatim."
    ),
    "fr": (
        "Tu es un compagnon attentif. Lis les mots de la personne et écris une courte "
        "réflexion (deux à quatre phrases) en français, sur un ton {tone}. Reflète ce "
        "qu'elle ressent et ce qui compte pour elle ; ne donne aucun conseil médical ou "
        "juridique, et ne répète pas ses mots tels quels."
    ),
    "ar": (
        "أنت رفيق متأمل. اقرأ كلمات الشخص واكتب تأملًا قصيرًا (من جملتين إلى أربع جمل) "
        "باللغة العربية، بنبرة {tone}. اعكس ما يشعر به وما يهمه؛ لا تقدّم نصيحة طبية أو "
        "قانونية، ولا تكرر كلماته حرفيًا."
    ),
}
_TONES: dict[Language, dict[Tone, str]] = {
    "en": {
        "gentle": "gentle",
        "encouraging": "encouraging",
        "direct": "direct",
        "neutral": "neutral",
    },
    "fr": {
        "gentle": "doux",
        "encouraging": "encourageant",
        "direct": "direct",
        "neutral": "neutre",
    },
    "ar": {
        "gentle": "لطيفة",
        "encouraging": "مشجعة",
        "direct": "صريحة",
        "neutral": "محايدة",
    },
}
_USER: dict[Language, str] = {
    "en": "Their words:\n{text}",
    "fr": "Ses mots :\n{text}",
    "ar": "كلماته:\n{text}",
}


def render(text: str, language: Language, tone: Tone) -> list[dict[str, str]]:
    """The chat messages of one reflection: the template's instructions, then the text."""
    system = _SYSTEM[language].format(tone=_TONES[language][tone])
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _USER[language].format(text=text)},
    ]
