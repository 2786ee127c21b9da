"""Positions computed in-process with Skyfield and the bundled JPL DE421 ephemeris.

No network, ever: the kernel comes from the ``skyfield-data`` package and the timescale
uses Skyfield's built-in leap-second and delta-T tables. Against real Horizons output
the astrometric RA/Dec agree within 0.3" (see tests/unit/ephemeris/test_local_accuracy.py).
DE421 covers 1899-07-29 to 2053-10-09.

Computations run in a small pool of threads the provider owns, behind a bounded queue.
One thread by default: Skyfield's work is mostly Python that holds the GIL, so more
threads do not compute faster, they only compete with the event loop for the GIL (7
threads held the loop for 0.6 s on a 7-body range; one thread leaves it the GIL at
every switch interval). A computation that finds the queue full is refused at once
(``ProviderBusyError``) rather than left waiting behind work nobody bounded.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from skyfield.api import Loader
from skyfield.errors import EphemerisRangeError
from skyfield.framelib import ecliptic_frame

from cachefront.errors import InvalidInputError, ProviderBusyError, UpstreamError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord, longitude_rates

__all__ = ["DEFAULT_LOCAL_QUEUE", "DEFAULT_LOCAL_THREADS", "LocalProvider", "Observations"]

_KERNEL = "de421.bsp"

DEFAULT_LOCAL_THREADS = 1
"""Threads computing positions; see the module docstring for why one."""
DEFAULT_LOCAL_QUEUE = 32
"""Computations that may wait for a thread; a 7-body range asks for 7."""

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
    when done. ``positions`` computes in the provider's own ``threads`` threads, with at
    most ``queue`` computations waiting; past that it raises ProviderBusyError at once.
    ``observe`` and ``compute`` compute in the calling thread.
    """

    name = "local"

    def __init__(
        self,
        data_path: str | None = None,
        *,
        threads: int = DEFAULT_LOCAL_THREADS,
        queue: int = DEFAULT_LOCAL_QUEUE,
    ) -> None:
        if threads < 1 or queue < 0:
            raise ValueError(f"need at least one thread and a queue >= 0, got {threads}, {queue}")
        self._data_path = data_path
        self._lock = threading.Lock()
        self._kernel: Any = None
        self._timescale: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._threads = threads
        self._capacity = threads + queue
        # Its own lock: admission runs on the event loop and must never wait for a
        # kernel that is loading in a worker thread under ``_lock``.
        self._admission = threading.Lock()
        self._admitted = 0
        self._pool: ThreadPoolExecutor | None = None

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
        """Stop the threads (after the computation in progress) and close the kernel file.

        A later call starts them and loads the kernel again.
        """
        with self._admission:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
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
        Raises ProviderBusyError when every thread is busy and the queue is full, and
        UpstreamError for instants outside DE421: this provider cannot answer them, and
        the service has already refused what no configured provider covers.
        """
        future = self._submit(body, start, stop, step)
        try:
            return await asyncio.wrap_future(future)
        except InvalidInputError as exc:
            raise UpstreamError(self.name, exc.detail) from exc

    def _submit(
        self, body: Body, start: datetime, stop: datetime, step: timedelta
    ) -> Future[list[EphemerisRecord]]:
        with self._admission:
            if self._admitted >= self._capacity:
                raise ProviderBusyError(
                    self.name,
                    f"the local ephemeris is busy ({self._admitted} computations running or "
                    "waiting, the most it takes); retry shortly",
                )
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="skyfield")
            # Submitted under the lock, so close() cannot shut the pool down in between.
            future = self._pool.submit(self.compute, body, start, stop, step)
            self._admitted += 1
        # Released when the computation ends, not when its caller stops waiting: a
        # computation already running holds its thread until it is done. Outside the
        # lock: a future already done runs the callback here, at once.
        future.add_done_callback(self._release)
        return future

    def _release(self, _: Future[list[EphemerisRecord]]) -> None:
        with self._admission:
            self._admitted -= 1
