"""CORS in a real browser: a page from an allowed origin reads a hot-path hit, submits a job,
and calls the AI gateway with the headers an SDK adds (declared by its room).

Headless Chromium loads a page from a second local server (the allowed origin); the
page's script calls cachefront cross-origin, as a browser app would, and posts what it
could read back to its own server. Skipped, saying why, when Chromium is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, free_port

SECRET = "jwt-secret-for-browser-tests-0123456789abcdef"
CHROMIUM = shutil.which("chromium")

PAGE = """<!doctype html><html><body>running<script>
(async () => {
  const out = {};
  try {
    const API = new URLSearchParams(location.search).get("api");
    const mars = API + "/v1/ephemeris/mars?at=2031-03-04T05:06:00Z";
    // no-store: the browser's own cache must not answer in cachefront's place.
    await fetch(mars, {cache: "no-store"});
    const hit = await fetch(mars, {cache: "no-store"});
    out.hit = {status: hit.status, etag: hit.headers.get("ETag"),
               xcache: hit.headers.get("X-Cache"), age: hit.headers.get("Age")};
    const job = await fetch(API + "/v1/jobs", {
      method: "POST",
      cache: "no-store",
      headers: {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
                "Idempotency-Key": "browser-1"},
      body: JSON.stringify(EXPORT),
    });
    out.job = {status: job.status, location: job.headers.get("Location"),
               replayed: job.headers.get("Idempotent-Replayed")};
    // The headers the OpenAI JS client adds: a refused preflight would throw here.
    const chat = await fetch(API + "/v1/chat/completions", {
      method: "POST",
      cache: "no-store",
      headers: {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
                "OpenAI-Organization": "org-browser", "OpenAI-Project": "proj-browser",
                "X-Stainless-Lang": "js", "X-Stainless-OS": "Linux",
                "X-Stainless-Package-Version": "4.104.0", "X-Stainless-Retry-Count": "0"},
      body: JSON.stringify({model: "any", messages: [{role: "user", content: "hi"}]}),
    });
    out.chat = {status: chat.status, rid: chat.headers.get("X-Request-ID")};
  } catch (error) {
    out.error = String(error);
  }
  document.body.textContent = JSON.stringify(out);
  await fetch("/report", {method: "POST", body: JSON.stringify(out)});
})();
</script></body></html>"""

EXPORT = {
    "type": "ephemeris-export",
    "params": {"bodies": ["mars"], "start": "2031-01-01T00:00:00Z", "stop": "2031-01-01T02:00:00Z"},
}


@contextmanager
def page_server(page: bytes) -> Iterator[tuple[str, list[dict[str, Any]], threading.Event]]:
    """Serves ``page`` at / and collects what the page posts to /report."""
    reports: list[dict[str, Any]] = []
    reported = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            reports.append(json.loads(body))
            reported.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass  # keep test output to what the tests print

    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", reports, reported
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install -y chromium)")
def test_browser_app_reads_hit_headers_submits_a_job_and_sends_sdk_headers(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    assert CHROMIUM is not None
    claims = {"sub": "browser-user", "aud": "authenticated", "exp": int(time.time()) + 300}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    script = f"const TOKEN = {json.dumps(token)}; const EXPORT = {json.dumps(EXPORT)};"
    page = PAGE.replace("<script>", f"<script>{script}", 1).encode()
    with page_server(page) as (origin, reports, reported):
        settings = settings_for(
            jwt_secret=SECRET, jwt_audience="authenticated", cors_origins=[origin]
        )
        with serve_app(settings) as server, tempfile.TemporaryDirectory() as profile:
            browser = subprocess.Popen(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",  # tests may run as root, where the sandbox cannot start
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={profile}",
                    f"{origin}/?{urlencode({'api': server.url})}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                assert reported.wait(timeout=90), "the page never reported"
            finally:
                browser.terminate()
                try:
                    browser.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    browser.kill()
                    browser.wait()
    [report] = reports
    assert "error" not in report, report
    assert report["hit"]["status"] == 200
    assert report["hit"]["xcache"] == "memory"
    assert report["hit"]["etag"]
    assert report["hit"]["age"] is not None
    assert report["job"]["status"] == 202
    assert report["job"]["location"].startswith("/v1/jobs/")
    assert report["job"]["replayed"] == "false"
    # Past the preflight, whatever the gateway answered (no provider is configured).
    assert isinstance(report["chat"]["status"], int)
    assert report["chat"]["rid"]
