-- The prices room's statements: assets, daily history, rollups, retention, sizes.
-- Loaded by cachefront.db.queries.load_queries("cachefront.services.prices").

-- name: upsert_assets
-- One statement for the whole file: the rows arrive as parallel arrays. An unchanged
-- row is not updated (no dead tuple, no new updated_at) and not returned, so the
-- caller counts it as the rows sent minus those returned. A row whose provider or
-- provider id changed is available again.
INSERT INTO price_assets AS a
    (symbol, name, type, provider, provider_id, currency, exchange, active)
SELECT * FROM unnest(
    CAST(:symbols AS text[]), CAST(:names AS text[]), CAST(:types AS text[]),
    CAST(:providers AS text[]), CAST(:provider_ids AS text[]), CAST(:currencies AS text[]),
    CAST(:exchanges AS text[]), CAST(:actives AS boolean[])
)
ON CONFLICT (symbol) DO UPDATE SET
    name = EXCLUDED.name,
    type = EXCLUDED.type,
    provider = EXCLUDED.provider,
    provider_id = EXCLUDED.provider_id,
    currency = EXCLUDED.currency,
    exchange = EXCLUDED.exchange,
    active = EXCLUDED.active,
    unavailable_since = CASE
        WHEN (a.provider, a.provider_id) = (EXCLUDED.provider, EXCLUDED.provider_id)
        THEN a.unavailable_since
    END,
    updated_at = now()
WHERE (a.name, a.type, a.provider, a.provider_id, a.currency, a.exchange, a.active)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.type, EXCLUDED.provider, EXCLUDED.provider_id,
                      EXCLUDED.currency, EXCLUDED.exchange, EXCLUDED.active)
RETURNING (xmax = 0) AS inserted;

-- name: list_assets
SELECT id, symbol, name, type, provider, provider_id, currency, exchange, active,
       unavailable_since
FROM price_assets
WHERE active OR NOT :active_only
ORDER BY symbol;

-- name: assets_by_symbols
-- One index probe per symbol of the array, in one round trip.
SELECT id, symbol, name, type, provider, provider_id, currency, exchange, active,
       unavailable_since
FROM price_assets
WHERE symbol = ANY(CAST(:symbols AS text[]));

-- name: asset_symbols
SELECT symbol FROM price_assets;

-- name: available_assets
-- What the refresh prices: active assets the provider has not disowned.
SELECT id, symbol, name, type, provider, provider_id, currency, exchange, active,
       unavailable_since
FROM price_assets
WHERE active AND unavailable_since IS NULL
ORDER BY provider, symbol;

-- name: mark_unavailable
-- The first time counts: a later error does not move the date.
UPDATE price_assets
SET unavailable_since = coalesce(unavailable_since, now()), updated_at = now()
WHERE provider = :provider AND provider_id = :provider_id
RETURNING symbol;

-- name: upsert_daily
-- A bar fetched again (today's, still moving) replaces the stored one; an identical
-- one is left alone.
INSERT INTO price_daily AS d (asset_id, day, volume, open, high, low, close, adj_close)
SELECT :asset_id, * FROM unnest(
    CAST(:days AS date[]), CAST(:volumes AS float8[]), CAST(:opens AS float4[]),
    CAST(:highs AS float4[]), CAST(:lows AS float4[]), CAST(:closes AS float4[]),
    CAST(:adj_closes AS float4[])
)
ON CONFLICT (asset_id, day) DO UPDATE SET
    volume = EXCLUDED.volume,
    open = EXCLUDED.open,
    high = EXCLUDED.high,
    low = EXCLUDED.low,
    close = EXCLUDED.close,
    adj_close = EXCLUDED.adj_close
WHERE (d.volume, d.open, d.high, d.low, d.close, d.adj_close)
    IS DISTINCT FROM (EXCLUDED.volume, EXCLUDED.open, EXCLUDED.high, EXCLUDED.low,
                      EXCLUDED.close, EXCLUDED.adj_close);

-- name: refresh_rollup
-- A template, filled once at import by history.py for each rollup: {table} is the
-- rollup table (price_weekly, price_monthly), {unit} its period as date_trunc names it
-- (week: ISO weeks from the Monday; month: from the 1st), which is also the name of the
-- table's key column.
-- Recompute the periods holding :days from the daily rows of those periods. A period
-- whose stored row covers days the daily table no longer has (retention dropped them)
-- is sealed: only days outside what it covers are folded into it, so no day is ever
-- counted twice and none that was dropped is lost.
WITH touched AS (
    SELECT DISTINCT date_trunc('{unit}', d)::date AS period
    FROM unnest(CAST(:days AS date[])) AS d
),
present AS (
    -- One range scan from the first touched period to the end of the last one (not a
    -- probe per period), keeping the rows of the touched periods.
    SELECT date_trunc('{unit}', d.day)::date AS period, d.day, d.volume, d.open, d.high,
           d.low, d.close, d.adj_close
    FROM price_daily d
    WHERE d.asset_id = :asset_id
      AND d.day >= (SELECT min(period) FROM touched)
      AND d.day < (SELECT (max(period) + interval '1 {unit}')::date FROM touched)
      AND date_trunc('{unit}', d.day)::date IN (SELECT period FROM touched)
),
span AS (
    SELECT period, min(day) AS lo, max(day) AS hi FROM present GROUP BY period
),
stored AS (
    SELECT r.*, (r.{unit} + r.first_day < s.lo OR r.{unit} + r.last_day > s.hi) AS sealed
    FROM {table} r JOIN span s ON s.period = r.{unit}
    WHERE r.asset_id = :asset_id
),
fresh AS (
    SELECT p.period,
           (min(p.day) - p.period)::int2 AS first_day,
           (max(p.day) - p.period)::int2 AS last_day,
           (array_agg(p.open ORDER BY p.day))[1] AS open,
           max(p.high) AS high,
           min(p.low) AS low,
           (array_agg(p.close ORDER BY p.day DESC))[1] AS close,
           sum(p.volume) AS volume,
           (array_agg(p.adj_close ORDER BY p.day DESC))[1] AS adj_close
    FROM present p LEFT JOIN stored s ON s.{unit} = p.period
    WHERE s.sealed IS NOT TRUE
       OR p.day < s.{unit} + s.first_day OR p.day > s.{unit} + s.last_day
    GROUP BY p.period
)
INSERT INTO {table} AS r
    (asset_id, {unit}, volume, open, high, low, close, first_day, last_day, adj_close)
SELECT :asset_id, f.period,
       CASE WHEN s.sealed THEN s.volume + f.volume ELSE f.volume END,
       CASE WHEN s.sealed AND s.first_day < f.first_day THEN s.open ELSE f.open END,
       CASE WHEN s.sealed THEN greatest(s.high, f.high) ELSE f.high END,
       CASE WHEN s.sealed THEN least(s.low, f.low) ELSE f.low END,
       CASE WHEN s.sealed AND s.last_day > f.last_day THEN s.close ELSE f.close END,
       CASE WHEN s.sealed THEN least(s.first_day, f.first_day) ELSE f.first_day END,
       CASE WHEN s.sealed THEN greatest(s.last_day, f.last_day) ELSE f.last_day END,
       CASE WHEN s.sealed AND s.last_day > f.last_day THEN s.adj_close ELSE f.adj_close END
FROM fresh f LEFT JOIN stored s ON s.{unit} = f.period
ON CONFLICT (asset_id, {unit}) DO UPDATE SET
    volume = EXCLUDED.volume,
    open = EXCLUDED.open,
    high = EXCLUDED.high,
    low = EXCLUDED.low,
    close = EXCLUDED.close,
    first_day = EXCLUDED.first_day,
    last_day = EXCLUDED.last_day,
    adj_close = EXCLUDED.adj_close;

-- name: read_daily
-- One range scan of the primary key; runtime pruning skips the other years.
SELECT day AS start, open, high, low, close, volume, adj_close
FROM price_daily
WHERE asset_id = :asset_id AND day >= :start AND day <= :end
ORDER BY day;

-- name: read_weekly
SELECT week AS start, open, high, low, close, volume, adj_close
FROM price_weekly
WHERE asset_id = :asset_id AND week >= :start AND week <= :end
ORDER BY week;

-- name: read_monthly
SELECT month AS start, open, high, low, close, volume, adj_close
FROM price_monthly
WHERE asset_id = :asset_id AND month >= :start AND month <= :end
ORDER BY month;

-- name: stored_span
-- Every day written is in a month row (kept forever) and months cover their days'
-- first and last: the span of the monthly rows is the span of everything stored.
SELECT min(month + first_day) AS first, max(month + last_day) AS last
FROM price_monthly
WHERE asset_id = :asset_id;

-- name: monthly_coverage
SELECT month, month + first_day AS first, month + last_day AS last
FROM price_monthly
WHERE asset_id = :asset_id AND month >= date_trunc('month', CAST(:start AS date))::date
  AND month < :end
ORDER BY month;

-- name: daily_partitions
-- Partitions are named by their year (price_daily_2026).
SELECT c.relname AS name
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'price_daily'::regclass;

-- name: lock_partitions
-- Serialises partition DDL across processes for the rest of the transaction.
SELECT pg_advisory_xact_lock(7203114005);

-- name: act_as_login_role
-- DDL runs as the login role (which owns the tables), for this transaction only.
SET LOCAL ROLE NONE;

-- name: create_daily_partition
CREATE TABLE IF NOT EXISTS price_partitions.price_daily_{year} PARTITION OF price_daily
FOR VALUES FROM ('{year}-01-01') TO ('{next_year}-01-01');

-- name: drop_daily_partition
DROP TABLE IF EXISTS price_partitions.price_daily_{year};

-- name: delete_daily_before
-- Through the parent: the app role has no right on the partitions' schema, and the
-- years before the cut-off's are gone as partitions already.
DELETE FROM price_daily WHERE day < :cutoff;

-- name: count_daily_between
SELECT count(*) FROM price_daily WHERE day >= :low AND day < :high;

-- name: delete_weekly_before
DELETE FROM price_weekly WHERE week < :cutoff;

-- name: count_weekly
SELECT count(*) FROM price_weekly;

-- name: compact_table
-- Rewrites a table retention emptied by more than half, giving the space back.
VACUUM (FULL, ANALYZE) {table};

-- name: table_sizes
-- Bytes per table, indexes and TOAST included, partitions summed into their parent
-- (pg_partition_tree lists nothing for a table that is not partitioned).
SELECT t.name,
       (pg_total_relation_size(t.name::regclass) + coalesce(
           (SELECT sum(pg_total_relation_size(p.relid))
            FROM pg_partition_tree(t.name::regclass) AS p
            WHERE p.relid <> t.name::regclass), 0))::bigint AS bytes
FROM unnest(CAST(:tables AS text[])) AS t(name);

-- name: table_rows
SELECT count(*) FROM {table};

-- name: current_role
SELECT current_user;

-- name: reset_role
RESET ROLE;

-- name: set_role
SET ROLE {role};

-- name: figures_assets
-- The catalogue per type and provider (figures.py): active, switched off, and those
-- whose provider said it does not know them.
SELECT type, provider,
       count(*) AS assets,
       count(*) FILTER (WHERE active AND unavailable_since IS NULL) AS active,
       count(*) FILTER (WHERE NOT active) AS inactive,
       count(*) FILTER (WHERE unavailable_since IS NOT NULL) AS unavailable
  FROM price_assets
 GROUP BY type, provider
 ORDER BY type, provider;

-- name: figures_latest
-- The latest prices in the PostgreSQL tier: how many, the newest refresh, how many
-- are past their fresh window (served marked stale) or gone, and how many active
-- assets have no live price at all.
SELECT count(*) FILTER (WHERE NOT negative) AS entries,
       max(stored_at) FILTER (WHERE NOT negative) AS newest,
       count(*) FILTER (WHERE NOT negative AND fresh_until <= :now AND expires_at > :now)
           AS stale,
       count(*) FILTER (WHERE NOT negative AND expires_at <= :now) AS expired,
       (SELECT count(*)
          FROM price_assets a
         WHERE a.active AND a.unavailable_since IS NULL
           AND NOT EXISTS (SELECT 1
                             FROM cache_entries e
                            WHERE e.namespace = :namespace AND e.key = a.symbol
                              AND NOT e.negative AND e.expires_at > :now)) AS missing
  FROM cache_entries
 WHERE namespace = :namespace;

-- name: figures_history
-- Daily history of the active assets: each asset's first and last day through the
-- primary key (asset_id, day) of every yearly partition, never a pass over the rows;
-- how many assets have none (a backfill has not reached them) and how many end
-- before :behind.
SELECT count(*) FILTER (WHERE h.newest IS NOT NULL) AS with_history,
       count(*) FILTER (WHERE h.newest IS NULL) AS without_history,
       count(*) FILTER (WHERE h.newest < :behind) AS behind,
       min(h.oldest) AS oldest,
       max(h.newest) AS newest
  FROM price_assets a
  LEFT JOIN LATERAL (
       SELECT min(d.day) AS oldest, max(d.day) AS newest
         FROM price_daily d
        WHERE d.asset_id = a.id
  ) AS h ON true
 WHERE a.active;

-- name: figures_history_rows
-- The planner's row count of the daily partitions (as of their last ANALYZE): a count
-- of years of candles would be a pass over them all on every refresh of the panel.
SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint AS rows
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = CAST('price_daily' AS regclass);

-- name: figures_backfill
-- The newest backfill job, and how many wait or run.
SELECT (SELECT count(*) FROM jobs WHERE type = :type AND status IN ('queued', 'running'))
           AS pending,
       j.status, j.progress, j.updated_at
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
       SELECT status, progress, updated_at
         FROM jobs
        WHERE type = :type
        ORDER BY created_at DESC
        LIMIT 1
  ) AS j ON true;
