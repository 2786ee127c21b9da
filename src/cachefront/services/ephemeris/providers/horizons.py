"""Positions from the JPL Horizons API: one HTTP call per body and window."""

from __future__ import annotations

from datetime import datetime, timedelta

from cachefront.errors import UpstreamFormatError, UpstreamStatusError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord
from cachefront.services.ephemeris.providers.base import HttpRequester, as_priority
from cachefront.services.ephemeris.providers.horizons_format import (
    PROVIDER_NAME,
    build_query,
    parse_response,
    rows_to_records,
)

__all__ = ["DEFAULT_HORIZONS_URL", "HorizonsProvider"]

DEFAULT_HORIZONS_URL = "https://ssd.jpl.nasa.gov/api/horizons.api"


class HorizonsProvider:
    """An ephemeris provider asking JPL Horizons, through an HttpRequester.

    A whole window for one body is a single request (Horizons returns every step of
    the range in one table), so precomputing 48 hourly steps costs one call, not 48.
    The request reaches one grid step past each end of the window and those two rows
    are dropped, so every record's longitude rate is a central difference.
    """

    name = PROVIDER_NAME

    def __init__(self, client: HttpRequester, url: str = DEFAULT_HORIZONS_URL) -> None:
        self._client = client
        self._url = url

    async def positions(
        self,
        body: Body,
        start: datetime,
        stop: datetime,
        step: timedelta,
        *,
        priority: str = "user",
    ) -> list[EphemerisRecord]:
        """One record per grid instant from ``start`` to ``stop`` inclusive.

        Raises UpstreamStatusError on an error status and UpstreamFormatError when the
        answer is refused, unreadable, or does not hold exactly the instants asked for.
        """
        if step <= timedelta(0):
            raise ValueError(f"step must be positive, got {step}")
        if stop < start:
            return []
        params = build_query(body, start - step, stop + step, step)
        response = await self._client.request(
            "GET", self._url, params=params, priority=as_priority(priority)
        )
        if response.status_code != 200:
            raise UpstreamStatusError(self.name, response.status_code, response.reason_phrase)
        table = parse_response(response.content, response.headers.get("content-type"), body=body)
        records = rows_to_records(table.rows, body, provider=self.name)[1:-1]
        count = (stop - start) // step + 1
        expected = [start + index * step for index in range(count)]
        if [record.at for record in records] != expected:
            raise UpstreamFormatError(
                self.name,
                f"asked for {count} rows from {start.isoformat()} every {step}, "
                f"got {len(records)} that do not match",
            )
        return records
