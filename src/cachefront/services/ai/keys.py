"""Cache keys of AI answers: the whole request, canonical, with who asks and who answers.

The key hashes the canonical JSON of the request (keys sorted, no whitespace) without
the fields that change only how the answer is delivered (``stream``,
``stream_options``, ``user``), together with the route, the provider and the model it
resolved to, the caller's namespace (so no caller ever reads another's answer) and
``SCHEMA_VERSION``, raised whenever what an entry holds changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["DELIVERY_FIELDS", "SCHEMA_VERSION", "answer_key", "is_repeatable"]

SCHEMA_VERSION = 1
DELIVERY_FIELDS = frozenset({"stream", "stream_options", "user"})


def answer_key(
    route: str, body: Mapping[str, Any], *, provider: str, model: str, namespace: str
) -> str:
    """The hex key of one answer; reordering the request's JSON keys does not change it."""
    kept = {name: value for name, value in body.items() if name not in DELIVERY_FIELDS}
    document = {
        "v": SCHEMA_VERSION,
        "route": route,
        "provider": provider,
        "model": model,
        "namespace": namespace,
        "request": kept,
    }
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=20).hexdigest()


def is_repeatable(body: Mapping[str, Any], *, opted_in: bool) -> bool:
    """Whether the same request may get the same answer: temperature 0 given, or opted in.

    Sampling without an explicit temperature 0 is meant to vary, so such answers are
    neither cached nor shared between requests unless the caller asks for it.
    """
    if opted_in:
        return True
    temperature = body.get("temperature")
    return (
        isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
        and temperature == 0
    )
