"""Every Redis key schema of cachefront, in one place: what each key holds and how long it lives.

A deployment's keys all start with its prefix (``CACHEFRONT_REDIS_PREFIX``, default
``cf``), so several deployments can share one Redis. Every schema carries a version
(``v1``, ``ratelimit_v3``, ``budget_v1``, ``hold_v1``): a change of layout or of what a key holds
ships under a new version beside the old keys, which are then never misread and simply
expire. Namespaces and route groups must not contain ``:``, which separates the parts.
Nothing else in the code spells a key or a part of one; ``tests/unit/test_redis_keys.py``
checks that.
"""

from __future__ import annotations

__all__ = [
    "BUDGET_KEY_V1",
    "CACHE_KEY_V1",
    "ENTRY_FORMAT_V1",
    "FLIGHT_CHUNKS_KEY_V1",
    "FLIGHT_LOCK_KEY_V1",
    "HOLD_KEY_V1",
    "INVALIDATION_CHANNEL_V1",
    "LOCK_KEY_V1",
    "QUOTA_KEY_V1",
    "RATELIMIT_KEY_V3",
    "RATELIMIT_PROCS_KEY_V1",
    "budget_key_prefix",
    "cache_key",
    "cache_key_pattern",
    "flight_chunks_key",
    "flight_lock_key",
    "hold_key",
    "invalidation_channel",
    "lock_key",
    "quota_key",
    "ratelimit_key",
    "ratelimit_key_prefix",
    "ratelimit_procs_key",
]

# --- the cache tier (cache/redis_store.py) ------------------------------------------

# One cached entry. Value: ENTRY_FORMAT_V1 header + payload (see cache/redis_store.py).
# TTL (PX): expires_at - now, so Redis forgets an entry when it could no longer be
# served at all, not even stale.
CACHE_KEY_V1 = "{prefix}:v1:c:{ns}:{key}"

# First byte of every cached value; a reader that meets another byte treats the value
# as a miss rather than guessing its layout.
ENTRY_FORMAT_V1 = 1

# The pub/sub channel on which every process announces its writes and deletes of the
# shared tiers, so the others drop those keys from memory (cache/invalidation_redis.py).
# Messages: JSON {o: origin process, n: namespace, k: [keys]} or {o, n, p: key prefix}.
# A channel, not a key: nothing is stored and nothing expires.
INVALIDATION_CHANNEL_V1 = "{prefix}:v1:invalidate"

# --- single-flight locks (cache/singleflight.py, taken through cache/redis_store.py) --

# The cluster-wide fill lock of one entry. Value: the holder's random token, so only the
# holder deletes it. TTL (PX): the lock seconds (CACHEFRONT_SINGLEFLIGHT_LOCK_SECONDS,
# default cache.keys.DEFAULT_LOCK_SECONDS = 35 s), so a crashed holder frees it.
LOCK_KEY_V1 = "{prefix}:v1:lock:{ns}:{key}"

# --- shared in-flight answers (a room's coalescing of identical concurrent calls) -----

# Who makes the one call of an answer several processes want now. Value: the leader's
# flight id (random hex), which names its chunks' stream. TTL (PX): the room's deadline
# plus a margin, so a crashed leader frees it.
FLIGHT_LOCK_KEY_V1 = "{prefix}:v1:flight:lock:{ns}:{key}"

# The chunks of one flight as they arrive, for followers in other processes. A Redis
# stream of entries {d: chunk} ended by {end: "ok"} or {end: "error", status, message}.
# TTL (EXPIRE): a minute past the last entry, so followers arriving late still read it.
FLIGHT_CHUNKS_KEY_V1 = "{prefix}:v1:flight:chunks:{ns}:{key}:{flight}"

# --- a room's per-caller quotas (counted where every process sees them) -------------

# One caller's count in one window of a room's quota: the window is a UTC day
# (``d20260131``, tokens held and used) or minute (``m202601312359``, requests started).
# Value: an integer, changed only by INCRBY in the room's Lua scripts. TTL (PEXPIRE): the
# rest of the window plus a margin, so a passed window's keys vanish on their own. The
# owner may hold ``:`` (``key:<id>``); the window, last, never does.
QUOTA_KEY_V1 = "{prefix}:v1:quota:{ns}:{owner}:{window}"

# --- inbound limits (ratelimit/limiter.py) --------------------------------------------

# One sliding-window counter per route group and identity. Value: a hash {w: window
# index, p: previous window's count, c: current window's count, lp, lc: ms time of the
# last counted hit of each}; v3 added lp and lc. TTL (PEXPIRE): two windows, set when a
# new window starts, so the hash lives long enough to serve as the next "previous".
RATELIMIT_KEY_V3 = "{prefix}:ratelimit_v3:{group}/{identity}"

# The processes sharing the limits, for the size of a lease (ratelimit/leases.py).
# Value: a sorted set, member "<pid>-<random>", score the Unix time of its last
# heartbeat; members silent for three heartbeats are removed. TTL (PEXPIRE): three
# heartbeats, renewed by each, so the set vanishes with the last process.
RATELIMIT_PROCS_KEY_V1 = "{prefix}:ratelimit_procs_v1"

# --- outbound budgets (upstream/budget.py, through the ``limits`` library) -------------

# One provider's moving window. ``limits`` appends its own part after our prefix:
# "LIMITER/<name>/<amount>/<multiples>/<granularity>". Value: a list of hit times
# (``limits``' moving-window Lua). A budget whose units are leased
# (``upstream/budget_lease.py``) counts over a window one second longer, so its key
# names that window ("600/minute" counts as "LIMITER/<name>/600/61/second"). TTL: one
# window of the count, renewed by each hit.
BUDGET_KEY_V1 = "{prefix}:budget_v1:LIMITER/{name}/{amount}/{multiples}/{granularity}"

# --- upstream holds (upstream/hold.py) -------------------------------------------------

# One upstream put on hold by its own answer (a 418 or 429 with Retry-After): while the
# key exists no process calls that upstream. Value: the HTTP status that started the
# hold. TTL (PX): what is left of the hold, only ever lengthened, so the key vanishes
# when the hold ends and every process reads the same end from PTTL, whatever its clock.
HOLD_KEY_V1 = "{prefix}:hold_v1:{name}"


def cache_key(prefix: str, ns: str, key: str) -> str:
    """The Redis key of one cached entry (schema ``CACHE_KEY_V1``)."""
    return f"{prefix}:v1:c:{ns}:{key}"


def invalidation_channel(prefix: str) -> str:
    """The pub/sub channel of memory-tier invalidations (``INVALIDATION_CHANNEL_V1``)."""
    return f"{prefix}:v1:invalidate"


def lock_key(prefix: str, ns: str, key: str) -> str:
    """The Redis key of one entry's single-flight lock (schema ``LOCK_KEY_V1``)."""
    return f"{prefix}:v1:lock:{ns}:{key}"


def flight_lock_key(prefix: str, ns: str, key: str) -> str:
    """The Redis key naming the leader of one shared flight (schema ``FLIGHT_LOCK_KEY_V1``)."""
    return f"{prefix}:v1:flight:lock:{ns}:{key}"


def flight_chunks_key(prefix: str, ns: str, key: str, flight: str) -> str:
    """The Redis stream of one flight's chunks (schema ``FLIGHT_CHUNKS_KEY_V1``)."""
    return f"{prefix}:v1:flight:chunks:{ns}:{key}:{flight}"


def quota_key(prefix: str, ns: str, owner: str, window: str) -> str:
    """The Redis key of one caller's count in one quota window (schema ``QUOTA_KEY_V1``)."""
    return f"{prefix}:v1:quota:{ns}:{owner}:{window}"


def cache_key_pattern(prefix: str, ns: str, key_prefix: str = "") -> str:
    """A SCAN pattern matching every cached key of ``ns`` that starts with ``key_prefix``."""
    return _glob_escape(cache_key(prefix, ns, key_prefix)) + "*"


def ratelimit_key_prefix(prefix: str) -> str:
    """What every counter key starts with (schema ``RATELIMIT_KEY_V3``).

    The limiter builds this once and appends ``group/identity`` per hit, on the hot path.
    """
    return f"{prefix}:ratelimit_v3:"


def ratelimit_key(prefix: str, group: str, identity: str) -> str:
    """The Redis key of one inbound counter (schema ``RATELIMIT_KEY_V3``)."""
    return f"{ratelimit_key_prefix(prefix)}{group}/{identity}"


def ratelimit_procs_key(prefix: str) -> str:
    """The sorted set of live processes' heartbeats (schema ``RATELIMIT_PROCS_KEY_V1``)."""
    return f"{prefix}:ratelimit_procs_v1"


def budget_key_prefix(prefix: str) -> str:
    """The key prefix handed to ``limits`` for outbound budgets (schema ``BUDGET_KEY_V1``)."""
    return f"{prefix}:budget_v1"


def hold_key(prefix: str, name: str) -> str:
    """The Redis key of one upstream's hold (schema ``HOLD_KEY_V1``)."""
    return f"{prefix}:hold_v1:{name}"


def _glob_escape(text: str) -> str:
    # SCAN MATCH is a glob: the caller's text must match only itself.
    return "".join("\\" + char if char in "\\*?[]" else char for char in text)
