"""Export jobs read params like the range API and refuse doomed jobs at submission."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from cachefront.config import Settings
from cachefront.errors import InvalidInputError
from cachefront.jobs.schedule import default_registry
from cachefront.services.ephemeris.tasks import EXPORT_JOB, ExportParams

SETTINGS = Settings(_env_file=None, export_max_rows=10_000)  # type: ignore[call-arg]
GOOD = {"bodies": ["mars"], "start": "2026-01-01T00:00:00Z", "stop": "2026-01-02T00:00:00Z"}


def _validate(params: dict[str, Any], settings: Settings = SETTINGS) -> ExportParams:
    model = default_registry(settings).validate(EXPORT_JOB, params, settings)
    assert isinstance(model, ExportParams)
    return model


def _refusal(change: dict[str, Any], settings: Settings = SETTINGS) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        _validate({**GOOD, **change}, settings)
    return caught.value


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"step": "7m"}, "params.step"),  # a valid duration, but off the hourly grid
        ({"step": "99999999999d"}, "params.step"),
        ({"step": "999999999999999999999h"}, "params.step"),
        ({"stop": "9999-12-31T23:59:59Z"}, "params.stop"),
        ({"start": "0001-01-01T00:00:00+01:00"}, "params.start"),
        ({"start": "1500-01-01T00:00:00Z", "stop": "1500-01-02T00:00:00Z"}, "params.start"),
        ({"start": 1767225600}, "params.start"),
        ({"stop": "2025-12-31T00:00:00Z"}, "params.stop"),
        ({"bodies": ["mars", "Mars"]}, "params.bodies"),
    ],
)
def test_doomed_exports_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    assert _refusal(change).field == field


def test_an_export_outside_every_configured_provider_is_refused() -> None:
    local_only = Settings(_env_file=None, ephemeris_providers=["local"])  # type: ignore[call-arg]
    later = {"start": "2060-01-01T00:00:00Z", "stop": "2060-01-02T00:00:00Z"}
    refusal = _refusal(later, local_only)
    assert refusal.field == "params.start"
    assert "1899-08-01 to 2053-10-01" in refusal.detail
    # Horizons covers 2060: the same params are fine when it is configured.
    assert _validate({**GOOD, **later}).start == datetime(2060, 1, 1, tzinfo=UTC)


def test_export_instants_without_a_zone_are_utc_as_in_the_range_api() -> None:
    params = _validate({**GOOD, "start": "2026-01-01T00:00:00", "stop": "2026-01-01 12:00"})
    assert params.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert params.stop == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_export_steps_and_bodies_read_as_in_the_range_api() -> None:
    params = _validate({**GOOD, "bodies": [" Mars", "VENUS"], "step": "2H"})
    assert [body.value for body in params.bodies] == ["mars", "venus"]
    assert params.rows() == 2 * 13


def test_export_errors_carry_no_pydantic_prefixes() -> None:
    refusal = _refusal({"stop": "2025-12-31T00:00:00Z"})
    assert refusal.detail == "stop must be after start"


def test_export_rows_are_counted_without_building_instants() -> None:
    params = ExportParams.model_validate(
        {**GOOD, "stop": "2027-01-01T00:00:00Z", "step": "1m"}  # 525,601 instants
    )
    tracemalloc.start()
    try:
        rows = params.rows()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 525_601
    assert peak < 64 * 1024  # a list of the instants alone would take tens of megabytes


def test_an_export_with_a_coarse_step_must_leave_room_for_its_neighbours() -> None:
    # Each row's rate needs the instant one step later; past 2053-10-01 the local
    # provider cannot compute it, so the job is refused now rather than failing later.
    local_only = Settings(_env_file=None, ephemeris_providers=["local"])  # type: ignore[call-arg]
    coarse = {"start": "2053-06-01T00:00:00Z", "stop": "2053-09-20T00:00:00Z", "step": "30d"}
    refusal = _refusal(coarse, local_only)
    assert refusal.field == "params.stop"
    assert "one step" in refusal.detail
