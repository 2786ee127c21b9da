"""schemathesis against the running app's OpenAPI schema, authenticated: no 5xx, all conform."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (dev extras)")
    # Every room is configured, so no route answers 503 for want of a provider.
    simulated = RunningOpenAISimulator()
    simulated.start()
    providers = [{"name": "sim", "base_url": simulated.base_url, "models": ["sim-small"]}]
    settings = settings_for(
        service_key="svc-schemathesis-key-0123456789abcdef",
        ephemeris_providers=["local"],
        rate_limits={"general": "100000/minute", "upstream": "100000/minute"},
        # Schemathesis sends wrong credentials to every operation on purpose: the
        # throttle of failed authentications would answer its later checks with 429.
        auth_failure_limit="100000/minute",
        worker_in_process=False,
        ai_providers=json.dumps(providers),
    )
    with serve_app(settings) as server:
        result = subprocess.run(
            [
                str(cli),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                # The schemas take body names, instants and job params as free strings
                # checked in code (422), so "schema-valid data must be accepted" is a
                # statement about schema tightness, not about conformance of answers.
                # DELETE /v1/jobs/{id} cancels: the job stays readable, as documented.
                "--exclude-checks",
                "positive_data_acceptance,use_after_free",
                # A job's event stream stays open until the job ends, and no worker runs
                # here: the tool would wait on it; tests/integration/ai covers the stream.
                "--exclude-path-regex",
                "/events$",
                # Positive data only: negative cases of free-form query strings are
                # judged by the tool's guesses, not by the schema.
                "--mode",
                "positive",
                "--max-examples",
                "15",
                "--seed",
                "1",
                "-H",
                "Authorization: Bearer svc-schemathesis-key-0123456789abcdef",
            ],
            capture_output=True,
            text=True,
            timeout=110,
            check=False,
        )
    simulated.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
