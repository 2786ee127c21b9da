"""The catalog: which provider and model serve a name a caller asks for, in fallback order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Catalog", "Target"]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Target(Generic[P]):
    """One step of a chain: a provider and the model name it knows the request by."""

    provider: P
    provider_name: str
    model: str


class Catalog(Generic[P]):
    """Names callers may use (models and aliases) and the chain each resolves to.

    A name resolves, in the order providers are configured, to every provider that
    serves it: as an alias (to the model the alias names there) or as a model.
    """

    def __init__(self, entries: Sequence[tuple[str, P, Sequence[str], dict[str, str]]]) -> None:
        self._chains: dict[str, list[Target[P]]] = {}
        self._aliases: set[str] = set()
        for name, provider, models, aliases in entries:
            for alias, model in aliases.items():
                self._chains.setdefault(alias, []).append(Target(provider, name, model))
                self._aliases.add(alias)
            for model in models:
                chain = self._chains.setdefault(model, [])
                if all(target.provider_name != name for target in chain):
                    chain.append(Target(provider, name, model))

    def resolve(self, name: str) -> list[Target[P]]:
        """The chain for ``name``; empty when no provider serves it."""
        return list(self._chains.get(name, ()))

    def names(self) -> list[tuple[str, str]]:
        """Every name a caller may use, sorted, with the provider that serves it first."""
        return sorted((name, chain[0].provider_name) for name, chain in self._chains.items())

    def is_alias(self, name: str) -> bool:
        return name in self._aliases
