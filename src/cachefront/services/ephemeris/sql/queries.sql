-- The ephemeris room's statements (figures.py); SQLAlchemy text with :name parameters.

-- name: coverage_ahead
-- Per body, the grid instants from :lo to :hi (Unix seconds) the PostgreSQL tier holds
-- live positive entries for, summed up: how many, the first and last, the end of the
-- run without a hole that starts at the first one (:step apart or closer) and where
-- the next stored instant after that hole is. Each body reads only its key range of
-- the primary key ("<body>:" and ten digits, which sort as the numbers they spell
-- until 2286); the digits are checked before they are read as a number.
WITH points AS (
    SELECT b.body, e.at
      FROM unnest(CAST(:bodies AS text[])) AS b(body)
     CROSS JOIN LATERAL (
           SELECT CASE WHEN split_part(key, ':', 2) ~ '^[0-9]{1,12}$'
                       THEN split_part(key, ':', 2)::bigint END AS at
             FROM cache_entries
            WHERE namespace = :namespace
              AND key >= b.body || ':' || CAST(:lo AS bigint)
              AND key <= b.body || ':' || CAST(:hi AS bigint)
              AND NOT negative
              AND expires_at > :now
           -- A fence: kept a subquery, the planner scans the key range by the primary
           -- key per body instead of pushing the numeric filter in and reading the
           -- whole namespace.
           OFFSET 0
     ) AS e
), steps AS (
    SELECT body, at, lead(at) OVER (PARTITION BY body ORDER BY at) AS next
      FROM points
     WHERE at BETWEEN :lo AND :hi
)
SELECT body,
       count(*) AS points,
       min(at) AS first_at,
       max(at) AS last_at,
       min(at) FILTER (WHERE next IS NULL OR next - at > :step) AS run_end,
       min(next) FILTER (WHERE next - at > :step) AS after_gap
  FROM steps
 GROUP BY body;
