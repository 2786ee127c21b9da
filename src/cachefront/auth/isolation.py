"""Per-user isolation in PostgreSQL: the app role, and the caller's id set per transaction.

The server's connections ``SET ROLE`` to an unprivileged role (``cachefront_app``) that
row-level security applies to; superusers and table owners would bypass it. Each
transaction begun while serving a request sets ``cachefront.user_id`` and
``cachefront.role`` (transaction-local) from ``current_identity``; the policies on
user-owned tables admit a row when its ``owner`` is that user id, or the role is
``service``. Work outside any request (periodic tasks, metrics) runs with the
connection's default role setting, ``service``: it is the server itself acting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.auth.identity import Identity, current_identity

__all__ = ["SET_IDENTITY_SQL", "as_identity", "install_isolation"]

SET_IDENTITY_SQL = (
    "SELECT set_config('cachefront.user_id', %(uid)s, true), "
    "set_config('cachefront.role', %(role)s, true)"
)


def install_isolation(engine: AsyncEngine, app_role: str | None) -> None:
    """Make every connection of ``engine`` run as ``app_role`` with per-transaction identity."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if app_role is not None:
                # The name is validated by the settings pattern; roles cannot be bound.
                cursor.execute(f'SET ROLE "{app_role}"')
            cursor.execute("SET cachefront.role = 'service'")
        finally:
            cursor.close()
        # psycopg opens a transaction for those statements; end it so the connection
        # enters the pool clean.
        dbapi_connection.commit()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        identity = current_identity.get()
        if identity is not None:
            connection.exec_driver_sql(
                SET_IDENTITY_SQL, {"uid": identity.id, "role": identity.role.value}
            )


async def as_identity(conn: AsyncConnection, identity: Identity) -> None:
    """Set ``identity`` for the rest of the transaction ``conn`` is in (tests, tools)."""
    await conn.execute(
        text(
            "SELECT set_config('cachefront.user_id', :uid, true), "
            "set_config('cachefront.role', :role, true)"
        ),
        {"uid": identity.id, "role": identity.role.value},
    )
