"""The production nginx configuration (deploy/nginx.conf), run as shipped in front of cachefront.

Only the two addresses change: nginx's listening port and cachefront's, both free ports
on 127.0.0.1. The same file is the one shown in docs/operations.md.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, free_port

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "deploy" / "nginx.conf"
AT = "2031-05-06T07:00:00Z"

MAIN = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
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


def test_the_operations_doc_shows_the_shipped_config() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    assert "```nginx\n" + CONFIG.read_text() + "```" in doc


def _nginx_config(nginx_port: int, cachefront_port: int) -> str:
    text = CONFIG.read_text()
    assert text.count("server 127.0.0.1:8000;") == 1
    assert text.count("listen 80;") == 1
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{cachefront_port};")
    return text.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")


@pytest.fixture
def proxied(
    settings_for: Callable[..., Settings], serve_app: Callable[[Settings], ServerThread]
) -> Iterator[str]:
    """cachefront behind nginx; yields nginx's URL."""
    if shutil.which("nginx") is None:
        pytest.skip("needs nginx (.ci/run installs it with apt)")
    # Anonymous limits low enough to see whose address is counted.
    settings = settings_for(rate_limits={"general": "100000/minute", "upstream": "3/minute"})
    with serve_app(settings) as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx's workers run as an unprivileged user
        port = free_port()
        (root / "cachefront.conf").write_text(_nginx_config(port, server.port))
        (root / "nginx.conf").write_text(MAIN.format(root=root))
        nginx = subprocess.Popen(
            ["nginx", "-c", str(root / "nginx.conf"), "-p", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    log = root / "error.log"
                    assert nginx.poll() is None, log.read_text() if log.exists() else "nginx died"
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            nginx.terminate()
            nginx.wait(timeout=15)


def test_requests_through_nginx_get_cachefronts_answers(proxied: str) -> None:
    with httpx.Client(base_url=proxied, timeout=30) as client:
        first = client.get("/v1/ephemeris/mars", params={"at": AT})
        assert first.status_code == 200, first.text
        assert first.json()["body"] == "mars"
        second = client.get("/v1/ephemeris/mars", params={"at": AT})
        assert second.headers["x-cache"] == "memory"
        assert second.headers["etag"] == first.headers["etag"]
        refused = client.post("/v1/jobs", json={})
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_addresses_a_client_puts_in_x_forwarded_for_are_not_believed(proxied: str) -> None:
    with httpx.Client(base_url=proxied, timeout=30) as client:
        statuses = [
            client.get(
                "/v1/ephemeris/mars",
                params={"at": AT},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(5)
        ]
    # One client, whatever it claims: its fourth request is over the limit of 3.
    assert statuses == [200, 200, 200, 429, 429], statuses


def test_header_lines_over_nginxs_limit_stop_at_nginx(proxied: str) -> None:
    response = httpx.get(f"{proxied}/health", headers={"X-Big": "a" * 20000}, timeout=30)
    assert response.status_code == 400
    assert response.headers.get("server", "").startswith("nginx")
