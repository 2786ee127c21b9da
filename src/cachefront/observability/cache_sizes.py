"""The PostgreSQL cache tier's entries and bytes per namespace, estimated without a scan.

Counting them exactly is a pass over ``cache_entries`` (about half a second at a
million entries), too much for every dashboard refresh and every Prometheus scrape.
The planner's statistics answer instead: the table's estimated rows (``reltuples``)
split by the shares ANALYZE found for each namespace (its most common values), and
the table's size on disk split the same way. Namespaces the statistics do not list
are summed under ``OTHER``. Autovacuum keeps the statistics within about 10% of the
table; the exact figures are ``GET /v1/admin/storage``'s. Before the table's first
ANALYZE there are no statistics, and the sizes are counted exactly.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from cachefront.db.queries import load_queries

__all__ = ["OTHER", "CacheSize", "cache_sizes"]

QUERIES = load_queries("cachefront.observability")
OTHER = "(other)"
CacheSize = tuple[str, int, int]
"""A namespace, its entries and its bytes."""


async def cache_sizes(conn: AsyncConnection) -> tuple[list[CacheSize], bool]:
    """Each namespace's (name, entries, bytes), and whether they are estimates."""
    row = (await conn.execute(QUERIES.text("cache_size_estimate"))).mappings().first()
    if row is None or row["rows"] < 0 or row["names"] is None:
        exact = await conn.execute(QUERIES.text("cache_sizes"))
        return [(str(r[0]), int(r[1]), int(r[2])) for r in exact], False
    rows, size = float(row["rows"]), int(row["bytes"])
    shares = list(zip(row["names"], row["shares"], strict=True))
    out = [(str(n), round(rows * s), round(size * s)) for n, s in shares]
    rest = max(0.0, 1.0 - sum(s for _, s in shares))
    if round(rows * rest) > 0:
        out.append((OTHER, round(rows * rest), round(size * rest)))
    return out, True
