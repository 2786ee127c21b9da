"""Which room a route or a provider belongs to, read off the room contract.

A route belongs to the room with the longest ``route_groups`` prefix it starts with;
a provider to the room whose ``upstreams`` names it. Routes and providers of no room
(the platform's own, or a room no longer in the list) are attributed to none.
``cost_readers`` are the rooms' optional readers of what their calls really cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cachefront.config import Settings
from cachefront.rooms import AnyRoom, CostReader

__all__ = ["Attribution"]


@dataclass(frozen=True)
class Attribution:
    """Route prefixes and provider names of each room."""

    # (prefix, room), longest prefix first.
    prefixes: tuple[tuple[str, str], ...] = ()
    providers: Mapping[str, str] = field(default_factory=dict)
    cost_readers: tuple[CostReader, ...] = ()

    @classmethod
    def of(cls, rooms: Iterable[AnyRoom], settings: Settings) -> Attribution:
        prefixes: list[tuple[str, str]] = []
        providers: dict[str, str] = {}
        readers: list[CostReader] = []
        for room in rooms:
            reader: CostReader | None = getattr(room, "cost_reader", None)
            if reader is not None:
                readers.append(reader)
            prefixes.extend((rule.prefix, room.name) for rule in room.route_groups)
            providers.update((spec.name, room.name) for spec in room.upstreams(settings))
        prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        return cls(tuple(prefixes), providers, tuple(readers))

    @property
    def rooms(self) -> list[str]:
        """Every room named, in the order first seen."""
        return list(dict.fromkeys([r for _, r in self.prefixes] + list(self.providers.values())))

    def room_of_route(self, route: str) -> str | None:
        for prefix, room in self.prefixes:
            if route == prefix or route.startswith(prefix.rstrip("/") + "/"):
                return room
        return None

    def room_of_provider(self, provider: str) -> str | None:
        return self.providers.get(provider)
