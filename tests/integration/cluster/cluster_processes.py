"""Processes the cluster tests start: a PgBouncer, a streaming replica, nginx in front."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from harness_servers import free_port

__all__ = [
    "PG_BIN",
    "ApiProcess",
    "Nginx",
    "PgBouncer",
    "StreamingPair",
    "deploy_nginx_block",
    "pgbouncer_binary",
    "wait_for_port",
]

REPO = Path(__file__).resolve().parents[3]

# Debian's server binaries (initdb, pg_ctl, pg_basebackup) are not on PATH.
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


def wait_for_port(
    port: int, *, alive: subprocess.Popen[bytes], log: Path, timeout: float = 20
) -> None:
    """Wait until something listens on 127.0.0.1:``port``; fail with ``log`` if ``alive`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if alive.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else "(no log)"
                raise RuntimeError(f"{alive.args[0]} did not start: {text[-2000:]}") from None
            time.sleep(0.05)


def _unprivileged_user() -> str | None:
    """The user to run a server as when the tests run as root (PgBouncer refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


class PgBouncer:
    """A PgBouncer (``pool_mode = transaction``, as hosted poolers run) on a free port,
    passing every database name to the server of ``server_url``."""

    def __init__(self, server_url: str, *, pool_size: int = 20) -> None:
        url = make_url(server_url)
        self._server_host = url.host or "127.0.0.1"
        self._server_port = url.port or 5432
        self._user = url.username or "postgres"
        self._pool_size = pool_size
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="cachefront-pgbouncer-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def url_for(self, database_url: str) -> str:
        """``database_url`` (a database on the same server) as reached through PgBouncer."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def __enter__(self) -> PgBouncer:
        binary = pgbouncer_binary()
        assert binary is not None
        log = self._dir / "pgbouncer.log"
        ini = self._dir / "pgbouncer.ini"
        ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host={self._server_host} port={self._server_port} user={self._user}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    # The local server trusts 127.0.0.1; PgBouncer logs in as the user above.
                    "auth_type = any",
                    "pool_mode = transaction",
                    f"default_pool_size = {self._pool_size}",
                    "max_client_conn = 1000",
                    f"admin_users = {self._user}",
                    # psycopg sends these at connect; PgBouncer refuses unknown ones.
                    "ignore_startup_parameters = extra_float_digits,options",
                    f"logfile = {log}",
                    f"pidfile = {self._dir / 'pgbouncer.pid'}",
                    "",
                ]
            )
        )
        command = [binary]
        user = _unprivileged_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
            for path in (ini,):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command += ["-u", user]
        command.append(str(ini))
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, alive=self._proc, log=log)
        return self

    def show(self, what: str) -> list[dict[str, str]]:
        """A ``SHOW`` of PgBouncer's admin console (simple protocol only: psql speaks it)."""
        out = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self._user,
                "-d",
                "pgbouncer",
                "-A",
                "-F",
                "\t",
                "-P",
                "footer=off",
                "-c",
                f"SHOW {what}",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
        header = out[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=True)) for line in out[1:]]

    def log(self) -> str:
        path = self._dir / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


class StreamingPair:
    """A primary of its own (initdb on a free port) and a streaming replica of it made with
    ``pg_basebackup -R``; both stopped and removed on exit.

    A primary of its own rather than the machine's server: a base backup copies the
    whole cluster (every test database on it), and the machine's pg_hba may refuse
    replication connections.
    """

    def __init__(self, *, replica_options: str = "") -> None:
        """``replica_options``: more ``-c`` settings of the replica (logging, say)."""
        self.primary_port = free_port()
        self.replica_port = free_port()
        self._replica_options = replica_options
        self._dir = Path(tempfile.mkdtemp(prefix="cachefront-replica-"))
        self._user = _unprivileged_user()
        self._started: list[Path] = []

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [str(PG_BIN / command[0]), *command[1:]],
            user=self._user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr[-2000:]}")

    def _start(self, data: Path, port: int, more: str = "") -> None:
        options = (
            f"-c port={port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self._dir} -c fsync=off -c max_wal_senders=4 "
            f"-c wal_level=replica -c hot_standby=on -c wal_receiver_status_interval=1s {more}"
        )
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(data) + ".log", "-w", "start")
        self._started.append(data)

    def replica_log(self) -> str:
        """The replica server's log so far (its statements, with ``log_statement=all``)."""
        path = self._dir / "replica.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_replica(self) -> None:
        """Stop the replica at once (as a crash would), leaving the primary up."""
        data = self._dir / "replica"
        self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        self._started.remove(data)

    def __enter__(self) -> StreamingPair:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        primary = self._dir / "primary"
        try:
            # trust: initdb's default pg_hba then admits 127.0.0.1 replication too.
            self._run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-N")
            self._start(primary, self.primary_port)
            self._run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary_port),
                "-U",
                "postgres",
                "-D",
                str(self._dir / "replica"),
                "-R",
                "-X",
                "stream",
            )
            self._start(self._dir / "replica", self.replica_port, self._replica_options)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for data in reversed(self._started):
            subprocess.run(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                user=self._user,
                capture_output=True,
                timeout=60,
                check=False,
            )
        self._started.clear()
        shutil.rmtree(self._dir, ignore_errors=True)


def deploy_nginx_block(ports: list[int], listen: int) -> str:
    """The nginx block of docs/deploy.md, its API processes and listening port replaced."""
    doc = (REPO / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", doc, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/deploy.md shows one nginx block"
    text: str = blocks[0]
    servers = re.findall(r"^ *server 127\.0\.0\.1:(\d+)(.*);$", text, flags=re.MULTILINE)
    assert len(servers) == len(ports), servers
    for (port, rest), new in zip(servers, ports, strict=True):
        text = text.replace(f"server 127.0.0.1:{port}{rest};", f"server 127.0.0.1:{new}{rest};")
    assert text.count("listen 80;") == 1
    return text.replace("listen 80;", f"listen 127.0.0.1:{listen};")


_NGINX_MAIN = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/cachefront.conf;
}}
"""


class Nginx:
    """nginx running ``site`` (a block for its http context) on ``port``."""

    def __init__(self, site: str, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._site = site
        self._dir = Path(tempfile.mkdtemp(prefix="cachefront-nginx-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        self._dir.chmod(0o755)  # nginx's workers run as an unprivileged user
        (self._dir / "cachefront.conf").write_text(self._site)
        (self._dir / "nginx.conf").write_text(_NGINX_MAIN.format(root=self._dir))
        self._proc = subprocess.Popen(
            ["nginx", "-c", str(self._dir / "nginx.conf"), "-p", str(self._dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, alive=self._proc, log=self._dir / "error.log")
        return self

    def error_log(self) -> str:
        path = self._dir / "error.log"
        return path.read_text() if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=15)
        shutil.rmtree(self._dir, ignore_errors=True)


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on TCP ``port`` (Linux /proc)."""
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "ADDR:PORT" in hex, state 0A is LISTEN, field 9 the inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                listening.add(fields[9])
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            return True
    return False


class ApiProcess:
    """``cachefront serve`` on a fixed port, to stop (SIGTERM, SIGKILL) and start again."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._env = {**os.environ, **env}
        self._proc: subprocess.Popen[bytes] | None = None
        self._err = tempfile.TemporaryFile()  # noqa: SIM115  (kept across restarts; close())

    def start(self, *, timeout: float = 60) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "cachefront", "serve", "--port", str(self.port)],
            env=self._env,
            cwd=REPO / "tests",
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Ready, and this very process listens there: on a machine running other
                # tests another server may have taken the port meanwhile (this one then
                # fails to bind) and be the one answering.
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200 and _listens(
                    self._proc.pid, self.port
                ):
                    return
            except httpx.TransportError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cachefront serve did not start: {self.stderr()[-2000:]}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Send ``sig``; the exit status once the process has ended."""
        assert self._proc is not None
        self._proc.send_signal(sig)
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def close(self) -> None:
        if self.running:
            self.stop(signal.SIGKILL)
        self._err.close()
