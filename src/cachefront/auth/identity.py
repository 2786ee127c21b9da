"""Who is calling: the identity every request carries after authentication."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Identity", "Kind", "Role", "current_identity"]


class Role(StrEnum):
    """What a caller may do; the values are what API keys store and tokens claim."""

    ANON = "anon"
    USER = "user"
    SERVICE = "service"


class Kind(StrEnum):
    """How the caller was recognised."""

    KEY = "key"  # an API key, or the configured service key
    JWT = "jwt"  # an access token of the app's identity provider
    IP = "ip"  # no credentials: the client address stands in


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated (or anonymous) caller: its id, role, and how it was recognised."""

    id: str
    role: Role
    kind: Kind

    @property
    def limit_key(self) -> str:
        """The name inbound limits count under; distinct per kind so ids never collide."""
        return f"{self.kind.value}:{self.id}"

    @property
    def owner(self) -> str | None:
        """The owner id of rows this caller sees; None means all rows (service role)."""
        return None if self.role is Role.SERVICE else self.id


# The caller of the request being served; read by the database layer to set the
# row-level-security settings of each transaction. Unset outside requests.
current_identity: ContextVar[Identity | None] = ContextVar("current_identity", default=None)
