"""The reflection templates render in every language and tone, Arabic and French included."""

from __future__ import annotations

import re

import pytest

from cachefront.services.ai.reflection_templates import LANGUAGES, TONES, render
from cachefront.services.ai.reflections import normalize

_ARABIC = re.compile(r"[\u0600-\u06FF]")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("tone", TONES)
def test_every_template_renders_with_the_text_and_no_placeholder_left(
    language: str, tone: str
) -> None:
    messages = render("J'ai marché longtemps — وحدي", language, tone)  # type: ignore[arg-type]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "J'ai marché longtemps — وحدي" in messages[1]["content"]
    assert "{" not in messages[0]["content"]
    assert "{" not in messages[1]["content"]


def test_french_and_arabic_say_the_tone_in_their_own_words() -> None:
    french = render("texte", "fr", "encouraging")[0]["content"]
    assert "en français" in french
    assert "encourageant" in french
    arabic = render("نص", "ar", "gentle")[0]["content"]
    assert _ARABIC.search(arabic)
    assert "باللغة العربية" in arabic
    assert "لطيفة" in arabic
    assert "gentle" not in arabic


def test_normalizing_folds_spacing_and_unicode_forms() -> None:
    composed = "caf\u00e9"
    decomposed = "cafe\u0301"
    assert normalize(f"  un   {decomposed}\n\tnoir ") == f"un {composed} noir"
