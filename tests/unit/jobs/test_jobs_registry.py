"""Job registry validation, export params, the status machine and the stall sweep schedule."""

from __future__ import annotations

import pytest

from cachefront.config import Settings
from cachefront.errors import InvalidInputError
from cachefront.jobs.queue import libpq_url, stall_sweep_cron
from cachefront.jobs.schedule import default_registry
from cachefront.jobs.status import JobStatus, can_move
from cachefront.services.ephemeris.tasks import EXPORT_JOB, ExportParams

SETTINGS = Settings(_env_file=None, export_max_rows=10_000)  # type: ignore[call-arg]
GOOD = {"bodies": ["mars"], "start": "2026-01-01T00:00:00Z", "stop": "2026-01-02T00:00:00Z"}


def test_default_registry_names() -> None:
    registry = default_registry(SETTINGS)
    assert list(registry.job_types) == [EXPORT_JOB, "prices-backfill", "ai-generation"]
    assert list(registry.periodic) == [
        "precompute-ephemeris",
        "refresh-prices",
        "prices-partitions-ahead",
        "prices-retention",
        "ai-retention",
        "cleanup-expired-cache",
        "prune-metrics",
    ]
    assert registry.periodic["precompute-ephemeris"].schedule == "0 * * * *"


def test_valid_export_params_defaults() -> None:
    params = default_registry(SETTINGS).validate(EXPORT_JOB, GOOD, SETTINGS)
    assert isinstance(params, ExportParams)
    assert params.step == "1h"
    assert params.format == "csv"
    assert params.rows() == 25


@pytest.mark.parametrize(
    "change",
    [
        {"bodies": []},
        {"bodies": ["mars", "mars"]},
        {"bodies": ["vulcan"]},
        {"stop": "2025-12-31T00:00:00Z"},
        {"stop": "2027-06-01T00:00:00Z"},
        {"step": "90s"},
        {"format": "xml"},
        {"colour": "red"},
    ],
)
def test_bad_export_params(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        default_registry(SETTINGS).validate(EXPORT_JOB, {**GOOD, **change}, SETTINGS)
    assert caught.value.field is not None
    assert caught.value.field.startswith("params")


def test_export_row_limit() -> None:
    year = {**GOOD, "bodies": ["mars", "venus"], "stop": "2026-12-31T00:00:00Z"}
    with pytest.raises(InvalidInputError, match="rows"):
        default_registry(SETTINGS).validate(EXPORT_JOB, year, SETTINGS)


def test_unknown_type() -> None:
    with pytest.raises(InvalidInputError, match="unknown job type"):
        default_registry(SETTINGS).validate("nope", {}, SETTINGS)


def test_status_moves() -> None:
    assert can_move(JobStatus.QUEUED, JobStatus.CANCELLED)
    # Only by the job itself stopping (Move.STOP); the API's cancel takes queued jobs.
    assert can_move(JobStatus.RUNNING, JobStatus.CANCELLED)
    assert can_move(JobStatus.RUNNING, JobStatus.RUNNING)
    assert can_move(JobStatus.FAILED, JobStatus.QUEUED)
    assert not can_move(JobStatus.SUCCEEDED, JobStatus.QUEUED)


def test_stall_sweep_cron() -> None:
    assert stall_sweep_cron(2) == "* * * * * */1"
    assert stall_sweep_cron(60) == "* * * * * */30"
    assert stall_sweep_cron(600) == "* * * * *"


def test_libpq_url_keeps_socket_param() -> None:
    url = libpq_url("postgresql+psycopg://u@/db?host=/tmp/sock")
    assert url.startswith("postgresql://")
    assert "host=/tmp/sock" in url.replace("%2F", "/")
