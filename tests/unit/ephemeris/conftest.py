"""Fixtures for the ephemeris tests: the stored Horizons answers and one shared local provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cachefront.services.ephemeris.providers.local import LocalProvider

HORIZONS_DATA = Path(__file__).resolve().parents[2] / "data" / "horizons"


@pytest.fixture(scope="session")
def horizons_data() -> Path:
    """The folder of real Horizons answers (each subfolder's SOURCE.md says where from)."""
    return HORIZONS_DATA


@pytest.fixture(scope="session")
def local_provider() -> Iterator[LocalProvider]:
    """One provider for the session: loading DE421 once keeps the tests quick."""
    provider = LocalProvider()
    yield provider
    provider.close()
