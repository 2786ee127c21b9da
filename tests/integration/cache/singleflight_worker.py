"""One process of the cross-process single-flight test: many callers, one cold key.

Run as ``python singleflight_worker.py CONFIG_JSON``. It builds a cache over the given
PostgreSQL (and Redis, if any), touches ``ready``, waits for ``go`` to exist, then
fires its callers at once. Each upstream call appends this process id to ``calls``.
It prints the set of ETags its callers got, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from cachefront.cache import (
    CachePolicy,
    MemoryStore,
    PostgresStore,
    RedisStore,
    SingleFlight,
    TieredCache,
)
from cachefront.db.engine import create_engine
from cachefront.redis_link import RedisLink

POLICY = CachePolicy(fresh_for=timedelta(minutes=10))


# Tiny local-file operations: done synchronously on purpose, they take microseconds.
def _record_call(calls: Path) -> None:
    with calls.open("a") as log:
        log.write(f"{os.getpid()}\n")


def _touch(path: Path) -> None:
    path.touch()


def _exists(path: Path) -> bool:
    return path.exists()


async def main(config: dict[str, str | int]) -> None:
    engine = create_engine(str(config["database_url"]), pool_size=5)
    redis_url = str(config["redis_url"])
    link = RedisLink(redis_url, prefix=str(config["prefix"])) if redis_url else None
    redis = RedisStore(link) if link is not None else None
    db = PostgresStore(engine)
    cache = TieredCache(
        memory=MemoryStore(), redis=redis, db=db, locks=SingleFlight(redis=redis, db=db)
    )
    calls = Path(str(config["calls"]))

    async def fetch() -> bytes:
        _record_call(calls)
        await asyncio.sleep(0.2)
        return b'{"value":42}'

    async with cache:
        _touch(Path(str(config["ready"])))
        go = Path(str(config["go"]))
        for _ in range(2000):
            if _exists(go):
                break
            await asyncio.sleep(0.005)
        results = await asyncio.gather(
            *(
                cache.get_or_fetch(str(config["ns"]), "hot", fetch, POLICY)
                for _ in range(int(config["callers"]))
            )
        )
    if link is not None:
        await link.aclose()
    await engine.dispose()
    print(json.dumps(sorted({result.entry.etag for result in results})))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
