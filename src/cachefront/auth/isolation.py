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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.auth.authenticator import SERVICE_IDENTITY
from cachefront.auth.identity import Identity, current_identity, owner_of
from cachefront.db.queries import load_queries

__all__ = ["SET_IDENTITY_SQL", "acting_as", "acting_as_service", "as_identity", "install_isolation"]

_QUERIES = load_queries("cachefront.auth")
SET_IDENTITY_SQL = _QUERIES["set_identity"]


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
        if per_transaction_role and app_role is not None:
            # Validated by the settings pattern, as above.
            connection.exec_driver_sql(f'SET LOCAL ROLE "{app_role}"')
        identity = current_identity.get()
        if identity is not None:
            connection.exec_driver_sql(
                SET_IDENTITY_SQL,
                {"uid": owner_of(identity, jwt_issuer), "role": identity.role.value},
            )


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
