"""A finished generation as a file: JSON (every step's output) or Markdown (the book)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson

__all__ = ["as_json", "as_markdown"]


def as_json(
    job_id: uuid.UUID, topic: str, template: str, version: str, outputs: Sequence[str]
) -> bytes:
    return orjson.dumps(
        {
            "job": str(job_id),
            "template": template,
            "template_version": version,
            "topic": topic,
            "outline": outputs[0] if outputs else "",
            "chapters": [
                {"number": number, "text": text} for number, text in enumerate(outputs[1:], 1)
            ],
        }
    )


def as_markdown(topic: str, outputs: Sequence[str]) -> bytes:
    parts = [f"# {topic}", "", "## Outline", "", outputs[0] if outputs else ""]
    for number, text in enumerate(outputs[1:], 1):
        parts += ["", f"## Chapter {number}", "", text]
    return ("\n".join(parts) + "\n").encode()
