"""The log-scale latency buckets of the hourly and per-minute histograms, and their error bound.

Bucket ``b`` holds latencies in ``[FLOOR_MS * 2**(b/4), FLOOR_MS * 2**((b+1)/4))``:
four buckets per doubling, from 0.05 ms (everything faster is bucket 0) up to bucket
99 (about 27 minutes and beyond). A percentile read from the histogram is the
geometric middle of the bucket holding the order statistic it asks for, so it is
within ``RELATIVE_ERROR`` (2**(1/8) - 1, about 9.1%) of that value, whatever the
distribution: the price of reading 24 hours from a few thousand rows instead of
sorting a million. The SQL of ``metrics/sql/queries.sql`` and migration 0006 computes
the bucket with the same formula as ``bucket_of``.
"""

from __future__ import annotations

import math

__all__ = ["BUCKETS", "FLOOR_MS", "PER_DOUBLING", "RELATIVE_ERROR", "bucket_of", "bucket_value"]

FLOOR_MS = 0.05
PER_DOUBLING = 4
BUCKETS = 100
RELATIVE_ERROR = 2 ** (1 / (2 * PER_DOUBLING)) - 1


def bucket_of(latency_ms: float) -> int:
    """The bucket a latency is counted in (the SQL's formula)."""
    ratio = max(latency_ms, FLOOR_MS) / FLOOR_MS
    return min(BUCKETS - 1, math.floor(PER_DOUBLING * math.log(ratio) / math.log(2)))


def bucket_value(bucket: int) -> float:
    """The value a percentile falling in ``bucket`` is reported as: its geometric middle."""
    return FLOOR_MS * 2 ** ((bucket + 0.5) / PER_DOUBLING)
