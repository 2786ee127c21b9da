"""Which database URL serves what: the pooled primary, the direct connection, the replica."""

from __future__ import annotations

from dataclasses import dataclass

from cachefront.config import Settings

__all__ = ["DatabaseUrls", "database_urls"]


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    """The URLs one process connects to.

    ``primary`` carries the queries (possibly through a transaction pooler), ``direct``
    what needs a session of its own (LISTEN, migrations: the same URL when no pooler is
    in between), ``replica`` the heavy reads a room sends to a read engine.
    """

    primary: str
    direct: str
    replica: str | None = None

    @property
    def transaction_pooler(self) -> bool:
        """Whether ``primary`` is a transaction pooler (a separate direct URL was given)."""
        return self.direct != self.primary


def database_urls(settings: Settings, primary: str) -> DatabaseUrls:
    """The URLs for ``settings``, ``primary`` being the resolved CACHEFRONT_DATABASE_URL."""
    direct = settings.database_direct_url
    replica = settings.database_replica_url
    return DatabaseUrls(
        primary=primary,
        direct=primary if direct is None else direct.get_secret_value(),
        replica=None if replica is None else replica.get_secret_value(),
    )
