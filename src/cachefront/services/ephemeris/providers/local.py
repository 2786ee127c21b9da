"""Positions computed in-process with Skyfield and the bundled JPL DE421 ephemeris.

No network, ever: the kernel comes from the ``skyfield-data`` package and the timescale
uses Skyfield's built-in leap-second and delta-T tables. Against real Horizons output
the astrometric RA/Dec agree within 0.3" (see tests/unit/ephemeris/test_local_accuracy.py).
DE421 covers 1899-07-29 to 2053-10-09.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from skyfield.api import Loader
from skyfield.errors import EphemerisRangeError
from skyfield.framelib import ecliptic_frame

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord, longitude_rates

__all__ = ["LocalProvider", "Observations"]

_KERNEL = "de421.bsp"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Observations:
    """Geocentric quantities of one body at each of ``times``, as arrays.

    ``ra_deg``/``dec_deg``: astrometric ICRF (Horizons quantity 1); ``distance_au`` and
    ``range_rate_km_s``: range and range-rate (quantity 20, delta and deldot);
    ``ecl_lon_deg``/``ecl_lat_deg``: apparent position in the ecliptic of date
    (quantity 31).
    """

    times: list[datetime]
    ra_deg: FloatArray
    dec_deg: FloatArray
    distance_au: FloatArray
    range_rate_km_s: FloatArray
    ecl_lon_deg: FloatArray
    ecl_lat_deg: FloatArray


def _data_path() -> str:
    from skyfield_data import get_skyfield_data_path

    with warnings.catch_warnings():
        # skyfield-data warns when its finals2000A.all (IERS polar motion and UT1) is
        # past its date. We never load that file (the timescale is built in), and DE421
        # itself does not expire, so the warning does not concern us.
        warnings.simplefilter("ignore", RuntimeWarning)
        path: str = get_skyfield_data_path()
    return path


class LocalProvider:
    """An ephemeris provider that computes positions itself; never fails for lack of network.

    The kernel loads on first use (once, under a lock) and stays open; call ``close``
    when done. Computations run in a worker thread so the event loop never blocks.
    """

    name = "local"

    def __init__(self, data_path: str | None = None) -> None:
        self._data_path = data_path
        self._lock = threading.Lock()
        self._kernel: Any = None
        self._timescale: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _loaded(self) -> tuple[Any, Any]:
        with self._lock:
            if self._kernel is None:
                loader = Loader(self._data_path or _data_path(), expire=False)
                self._timescale = loader.timescale(builtin=True)
                self._kernel = loader(_KERNEL)
                # A provider dropped without close() still closes its file, instead of
                # leaving it to the garbage collector (a ResourceWarning).
                self._finalizer = weakref.finalize(self, self._kernel.close)
            return self._kernel, self._timescale

    def close(self) -> None:
        """Close the kernel file; a later call loads it again."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # closes the kernel, once
                self._finalizer = None
            self._kernel = None
            self._timescale = None

    def observe(self, body: Body, times: Sequence[datetime]) -> Observations:
        """The quantities of ``body`` at every one of ``times`` (UTC), in one vectorised pass.

        Raises InvalidInputError (field ``at``) for instants outside DE421.
        """
        kernel, timescale = self._loaded()
        utc = [at.astimezone(UTC) for at in times]
        if not utc:
            empty: FloatArray = np.empty(0)
            return Observations([], empty, empty, empty, empty, empty, empty)
        t = timescale.utc(
            np.array([at.year for at in utc]),
            np.array([at.month for at in utc]),
            np.array([at.day for at in utc]),
            np.array([at.hour for at in utc]),
            np.array([at.minute for at in utc]),
            np.array([at.second + at.microsecond / 1e6 for at in utc]),
        )
        try:
            astrometric = kernel["earth"].at(t).observe(kernel[body.de421_target])
            ra, dec, distance = astrometric.radec()
            lat, lon, _ = astrometric.apparent().frame_latlon(ecliptic_frame)
        except EphemerisRangeError:
            raise InvalidInputError(
                f"the local ephemeris (DE421) covers 1899-07-29 to 2053-10-09; "
                f"{utc[0].date()} to {utc[-1].date()} is outside it",
                field="at",
            ) from None
        position_km = astrometric.position.km
        velocity_km_s = astrometric.velocity.km_per_s
        range_km = np.sqrt(np.sum(position_km * position_km, axis=0))
        range_rate = np.sum(position_km * velocity_km_s, axis=0) / range_km
        return Observations(
            times=utc,
            ra_deg=np.atleast_1d(ra.hours * 15.0),
            dec_deg=np.atleast_1d(dec.degrees),
            distance_au=np.atleast_1d(distance.au),
            range_rate_km_s=np.atleast_1d(range_rate),
            ecl_lon_deg=np.atleast_1d(lon.degrees % 360.0),
            ecl_lat_deg=np.atleast_1d(lat.degrees),
        )

    def compute(
        self, body: Body, start: datetime, stop: datetime, step: timedelta
    ) -> list[EphemerisRecord]:
        """The records ``positions`` returns, computed in the calling thread.

        One extra grid instant on each side gives every record a central-difference
        longitude rate over the same two grid neighbours Horizons rows would give.
        """
        if step <= timedelta(0):
            raise ValueError(f"step must be positive, got {step}")
        if stop < start:
            return []
        count = (stop - start) // step + 1
        times = [start + (index - 1) * step for index in range(count + 2)]
        seen = self.observe(body, times)
        rates = longitude_rates(seen.times, seen.ecl_lon_deg.tolist())
        return [
            EphemerisRecord(
                body=body.value,
                at=seen.times[index],
                ra_deg=float(seen.ra_deg[index]),
                dec_deg=float(seen.dec_deg[index]),
                distance_au=float(seen.distance_au[index]),
                ecliptic_lon_deg=float(seen.ecl_lon_deg[index]),
                ecliptic_lat_deg=float(seen.ecl_lat_deg[index]),
                speed_deg_per_day=rates[index],
                retrograde=rates[index] < 0,
                provider=self.name,
            )
            for index in range(1, count + 1)
        ]

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

        ``priority`` is accepted for the provider interface; local work has no budget.
        """
        return await asyncio.to_thread(self.compute, body, start, stop, step)
