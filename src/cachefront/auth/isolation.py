"""Per-user isolation in PostgreSQL: the app role, and the caller's owner name set per transaction.

The server's connections ``SET ROLE`` to an unprivileged role (``cachefront_app``) that
row-level security applies to; superusers and table owners would bypass it. Each
transaction begun while an identity is current (``current_identity``: the request's
caller, or the service for background work that says so with ``acting_as_service``)
sets ``cachefront.user_id`` (the caller's ``owner_of`` name) and ``cachefront.role``,
transaction-local. The policies on user-owned tables admit a row when its ``owner`` is
that name, or the role is ``service``. A transaction begun with no identity sets
nothing and so sees no user-owned row and may write none: isolation fails closed, and
background work (job worker, periodic tasks, the CLI) must name itself the service.

A statement that sets the identity itself (a function taking it as arguments, run in
autocommit so it is its own transaction) runs with the execution option
``SETS_OWN_IDENTITY``: the "begin" event then sends nothing, neither the identity nor
the per-transaction role, and ``statement_identity`` gives what the statement must set
in their place. Forgetting to set them fails closed as above: no identity, no row.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.auth.authenticator import SERVICE_IDENTITY
from cachefront.auth.identity import Identity, current_identity, owner_of
from cachefront.db.queries import load_queries

__all__ = [
    "SETS_OWN_IDENTITY",
    "SET_IDENTITY_SQL",
    "StatementIdentity",
    "acting_as",
    "acting_as_service",
    "as_identity",
    "install_isolation",
    "statement_identity",
]

_QUERIES = load_queries("cachefront.auth")
SET_IDENTITY_SQL = _QUERIES["set_identity"]
# The execution option of a connection whose statements set the identity themselves.
SETS_OWN_IDENTITY = "cachefront_sets_own_identity"


@dataclass(frozen=True, slots=True)
class _Installed:
    app_role: str | None
    jwt_issuer: str | None
    per_transaction_role: bool


# What install_isolation was given, per engine; weak, so a disposed engine goes.
_INSTALLED: weakref.WeakKeyDictionary[Engine, _Installed] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class StatementIdentity:
    """What a ``SETS_OWN_IDENTITY`` statement sets in place of the "begin" event.

    ``uid`` and ``role`` are ``cachefront.user_id`` and ``cachefront.role`` (None with
    no identity: set nothing); ``app_role`` is the role to take for the transaction,
    None when the connection already has it (or the engine has none).
    """

    uid: str | None
    role: str | None
    app_role: str | None


def install_isolation(
    engine: AsyncEngine,
    app_role: str | None,
    *,
    jwt_issuer: str | None = None,
    per_transaction_role: bool = False,
) -> None:
    """Make every connection of ``engine`` run as ``app_role`` with per-transaction identity.

    ``jwt_issuer`` is the issuer access tokens are checked against; it is part of the
    owner name of token holders (``owner_of``). ``per_transaction_role`` sets the role
    in every transaction instead of once per connection: behind a transaction pooler a
    connection's transactions run on different server sessions, and a session-level
    role would be missing from some (and left behind on others).
    """
    sync_engine = engine.sync_engine
    _INSTALLED[sync_engine] = _Installed(app_role, jwt_issuer, per_transaction_role)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if app_role is None or per_transaction_role:
            return
        cursor = dbapi_connection.cursor()
        try:
            # The name is validated by the settings pattern; roles cannot be bound.
            cursor.execute(f'SET ROLE "{app_role}"')
        finally:
            cursor.close()
        # psycopg opens a transaction for that statement; end it so the connection
        # enters the pool clean.
        dbapi_connection.commit()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(SETS_OWN_IDENTITY):
            return
        if per_transaction_role and app_role is not None:
            # Validated by the settings pattern, as above.
            connection.exec_driver_sql(f'SET LOCAL ROLE "{app_role}"')
        identity = current_identity.get()
        if identity is not None:
            connection.exec_driver_sql(
                SET_IDENTITY_SQL,
                {"uid": owner_of(identity, jwt_issuer), "role": identity.role.value},
            )


def statement_identity(engine: AsyncEngine) -> StatementIdentity:
    """What the "begin" event of ``engine`` would set now, for a statement to set itself.

    An engine without ``install_isolation`` takes no role and names owners without an
    issuer, as its transactions do.
    """
    installed = _INSTALLED.get(engine.sync_engine, _Installed(None, None, False))
    app_role = installed.app_role if installed.per_transaction_role else None
    identity = current_identity.get()
    if identity is None:
        return StatementIdentity(None, None, app_role)
    uid = owner_of(identity, installed.jwt_issuer)
    return StatementIdentity(uid, identity.role.value, app_role)


@contextlib.contextmanager
def acting_as(identity: Identity) -> Iterator[None]:
    """Run the block (and the tasks it starts) as ``identity`` for row-level security."""
    token = current_identity.set(identity)
    try:
        yield
    finally:
        current_identity.reset(token)


def acting_as_service() -> contextlib.AbstractContextManager[None]:
    """Run the block as the service: background work that may see every user's rows."""
    return acting_as(SERVICE_IDENTITY)


async def as_identity(
    conn: AsyncConnection, identity: Identity, *, jwt_issuer: str | None = None
) -> None:
    """Set ``identity`` for the rest of the transaction ``conn`` is in (tests, tools)."""
    await conn.execute(
        _QUERIES.text("set_identity_now"),
        {"uid": owner_of(identity, jwt_issuer), "role": identity.role.value},
    )
