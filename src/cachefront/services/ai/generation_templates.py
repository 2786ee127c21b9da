"""The versioned templates of ``ai-generation`` jobs: the steps and the prompt of each.

A template is an outline step, then one step per chapter whose prompt is built from
the outline and the chapter before it. Every prompt is at temperature 0, so the
same inputs make the same request, which the gateway's cache answers a second time.
A template's text may only change under a new version: the version is part of each
step's input hash, so a changed template never resumes from the old one's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["GENERATION_VERSION", "TemplateName", "chapter_body", "outline_body", "steps_of"]

GENERATION_VERSION = "textbook-2026-12-01"
TemplateName = Literal["textbook"]

_SYSTEM = (
    "You write clear, accurate textbooks for curious adults. Answer with the text asked "
    "for only, no preamble."
)


def steps_of(chapters: int) -> int:
    """How many steps a textbook of ``chapters`` chapters takes: the outline, then each."""
    return 1 + chapters


def outline_body(model: str, topic: str, chapters: int) -> dict[str, Any]:
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": _SYSTEM},
            {
                "role": "user",
                "content": f"Write the outline of a textbook on: {topic}\n"
                f"Give exactly {chapters} chapter titles, one per line, numbered.",
            },
        ],
    }


def chapter_body(
    model: str, topic: str, number: int, outline: str, earlier: Sequence[str]
) -> dict[str, Any]:
    """Chapter ``number`` (from 1), from the outline and the chapter before it."""
    previous = earlier[-1] if earlier else "(this is the first chapter)"
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": _SYSTEM},
            {
                "role": "user",
                "content": f"Textbook on: {topic}\n\nOutline:\n{outline}\n\n"
                f"The chapter before:\n{previous}\n\n"
                f"Write chapter {number}, following the outline and going on from the "
                "chapter before.",
            },
        ],
    }
