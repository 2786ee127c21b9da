"""Ephemeris providers: JPL Horizons over HTTP and a local Skyfield/DE421 computation."""

from cachefront.services.ephemeris.providers.base import EphemerisProvider, HttpRequester
from cachefront.services.ephemeris.providers.horizons import (
    DEFAULT_HORIZONS_URL,
    HorizonsProvider,
)
from cachefront.services.ephemeris.providers.horizons_format import (
    HorizonsRow,
    HorizonsTable,
    build_query,
    parse_response,
    parse_table,
    rows_to_records,
)
from cachefront.services.ephemeris.providers.local import LocalProvider, Observations

__all__ = [
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
