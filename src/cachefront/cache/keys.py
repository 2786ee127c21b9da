"""The cache's timing defaults and sizes, in one commented place.

The Redis key schemas the cache uses (entries, single-flight locks) live with every
other Redis key in ``cachefront.redis_keys``; the Redis timeouts and backoff belong to
the process's one link (``cachefront.redis_link``).
"""

from __future__ import annotations

__all__ = [
    "DB_BACKOFF_FIRST_SECONDS",
    "DB_BACKOFF_MAX_SECONDS",
    "DEFAULT_LOCK_SECONDS",
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_MEMORY_MAX_ENTRY_BYTES",
    "DEFAULT_READ_FLUSH_SECONDS",
    "DEFAULT_READ_RESOLUTION_SECONDS",
    "DEFAULT_USER_DEADLINE_SECONDS",
    "EVICT_BATCH_ROWS",
    "LOCK_POLL_FIRST_SECONDS",
    "LOCK_POLL_MAX_SECONDS",
    "MEMORY_ENTRY_OVERHEAD_BYTES",
    "OVERTIME_MAX_CALLS",
    "READS_BATCH_KEYS",
    "READS_MAX_PENDING",
]

# Without Redis the cluster-wide lock is a PostgreSQL transaction-scoped advisory lock
# on hashtextextended(ns || ':' || key, 0) (see postgres_store.LOCK_KEYS_SQL); the COMMIT
# that makes the filled row visible is what releases it.

# --- timing defaults ---------------------------------------------------------------

# After a failed PostgreSQL command (the server is down or refuses connections) the
# store skips the database for this long, doubling per failed retry: cold requests are
# answered from upstream meanwhile, without a connection attempt each.
DB_BACKOFF_FIRST_SECONDS = 1.0
DB_BACKOFF_MAX_SECONDS = 5.0

# How long a user waits on one provider before the next one in the chain answers
# (CACHEFRONT_USER_DEADLINE_SECONDS). The call that overran goes on in the background
# and fills the cache; at most this many such calls per process, so a hung upstream
# cannot pile them up (past it an overrunning call is cancelled at the deadline).
DEFAULT_USER_DEADLINE_SECONDS = 3.0
OVERTIME_MAX_CALLS = 32

# How long a single-flight lock lives if its holder never releases it (a crash).
# Longer than the upstream deadline, so a slow but alive holder keeps its lock.
DEFAULT_LOCK_SECONDS = 35.0
# Processes waiting on another's lock poll the shared tiers, sleeping this long first
# and doubling up to the maximum: quick for fast upstreams, cheap for slow ones.
LOCK_POLL_FIRST_SECONDS = 0.005
LOCK_POLL_MAX_SECONDS = 0.2

# --- memory tier -------------------------------------------------------------------

DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024
DEFAULT_MEMORY_MAX_ENTRY_BYTES = 1024 * 1024
# What one memory entry costs besides its payload: the key tuple, the entry object,
# the ETag string and the dict slot, rounded up.
MEMORY_ENTRY_OVERHEAD_BYTES = 256

# --- read tracking and quota eviction (cache/reads.py, cache/quotas.py) -------------

# How often each process writes the keys it read, and how coarse last_read_at is: an
# entry's row is written at most once per resolution window however often it is read.
DEFAULT_READ_FLUSH_SECONDS = 5.0
DEFAULT_READ_RESOLUTION_SECONDS = 60.0
# Keys held between two flushes (about 100 bytes each), and keys per UPDATE statement.
READS_MAX_PENDING = 200_000
READS_BATCH_KEYS = 5_000
# Rows one eviction transaction locks at most (it deletes only what the quota needs).
EVICT_BATCH_ROWS = 1_000
