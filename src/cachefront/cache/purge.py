"""What an operator may purge: one namespace's key, or its keys starting with a prefix.

Shared by ``DELETE /v1/admin/cache/{namespace}`` and ``cachefront cache purge``, so both
accept and refuse the same input with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachefront.cache.engine import TieredCache
from cachefront.errors import InvalidInputError

__all__ = ["NAMESPACE_PATTERN", "PurgeTarget", "purge", "purge_target"]

# Namespaces as the rooms name them ("name.v1"); never ":" (it separates the parts
# of a Redis key) nor "/".
NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
_NAMESPACE = re.compile(NAMESPACE_PATTERN)


@dataclass(frozen=True, slots=True)
class PurgeTarget:
    """One namespace and either one key or a key prefix (``""``: the whole namespace)."""

    namespace: str
    key: str | None = None
    prefix: str | None = None


def purge_target(namespace: str, key: str | None, prefix: str | None) -> PurgeTarget:
    """The target named, or ``InvalidInputError`` naming what is wrong with the input."""
    if not _NAMESPACE.match(namespace):
        raise InvalidInputError(
            f"namespace {namespace!r} is not a namespace name (letters, digits, '_', '.', '-')",
            field="namespace",
        )
    if key is not None and prefix is not None:
        raise InvalidInputError("give key or prefix, not both", field="key")
    if key is None and prefix is None:
        raise InvalidInputError(
            "give key=<key>, or prefix=<prefix> (an empty prefix purges the namespace)",
            field="key",
        )
    if key == "":
        raise InvalidInputError(
            "key must not be empty; an empty prefix purges the whole namespace", field="key"
        )
    return PurgeTarget(namespace, key, prefix)


async def purge(cache: TieredCache, target: PurgeTarget) -> int:
    """Forget the target in every tier and every process's memory; how many entries went."""
    if target.key is not None:
        return await cache.invalidate(target.namespace, target.key)
    return await cache.invalidate(target.namespace, prefix=target.prefix or "")
