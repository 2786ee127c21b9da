"""Who is calling: the identity every request carries after authentication."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SERVICE_OWNER", "Identity", "Kind", "Role", "current_identity", "owner_of"]

# The owner of rows the service itself creates (service key, service tokens, tasks).
SERVICE_OWNER = "service"


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


def owner_of(identity: Identity, jwt_issuer: str | None = None) -> str:
    """The owner name of rows ``identity`` creates, namespaced by how it was recognised.

    ``key:<id>`` for API keys, ``jwt:<issuer>:<sub>`` for access tokens (the issuer the
    server checks tokens against, empty when none is configured), ``ip:<address>`` for
    anonymous callers and ``service`` for the service role, so that no credential of
    one kind can take the name of another's: a token whose ``sub`` is ``1`` is not API
    key 1. Row-level security compares rows' ``owner`` with this name.
    """
    if identity.role is Role.SERVICE:
        return SERVICE_OWNER
    if identity.kind is Kind.JWT:
        return f"jwt:{jwt_issuer or ''}:{identity.id}"
    return f"{identity.kind.value}:{identity.id}"


# The caller of the request being served; read by the database layer to set the
# row-level-security settings of each transaction. Unset outside requests.
current_identity: ContextVar[Identity | None] = ContextVar("current_identity", default=None)
