"""Single-flight across real OS processes: two processes, one cold key, one upstream call."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("singleflight_worker.py")


def _wait_for(paths: list[Path], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not all(path.exists() for path in paths):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers not ready after {seconds} s")
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("with_redis", [True, False], ids=["redis-lock", "advisory-lock"])
def test_two_processes_fetch_a_cold_key_once(
    database_url: str,
    redis_server_url: str | None,
    redis_prefix: str,
    ns: str,
    tmp_path: Path,
    with_redis: bool,
) -> None:
    if with_redis and redis_server_url is None:
        pytest.skip("needs Redis: none answered at CACHEFRONT_TEST_REDIS_URL")
    calls, go = tmp_path / "calls", tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                json.dumps(
                    {
                        "database_url": database_url,
                        "redis_url": redis_server_url if with_redis else "",
                        "prefix": redis_prefix,
                        "ns": ns,
                        "calls": str(calls),
                        "ready": str(ready[i]),
                        "go": str(go),
                        "callers": 100,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        _wait_for(ready, 60)
        go.touch()
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    etags = [json.loads(stdout) for stdout, _ in outputs]
    assert etags[0] == etags[1]
    assert len(etags[0]) == 1
    assert len(calls.read_text().splitlines()) == 1  # one upstream call in the whole cluster
