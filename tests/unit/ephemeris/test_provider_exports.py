"""Pins the public names of the providers package, so a change to them is deliberate."""

from __future__ import annotations

import cachefront.services.ephemeris.providers as providers


def test_exported_names() -> None:
    assert sorted(providers.__all__) == [
        "DEFAULT_HORIZONS_URL",
        "EphemerisProvider",
        "HorizonsProvider",
        "HorizonsRow",
        "HorizonsTable",
        "HttpRequester",
        "LocalProvider",
        "Observations",
        "build_query",
        "parse_response",
        "parse_table",
        "rows_to_records",
    ]
    for name in providers.__all__:
        assert hasattr(providers, name)
