"""Metrics partitioned by day, with per-minute and per-hour rollups the stats read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``request_metrics`` and ``upstream_calls`` become tables partitioned by day (RANGE on
``ts``), so retention drops a day's partition instead of deleting its rows. Three
rollup tables, partitioned by day as well, are kept by the recorder's flush in the
same statement that writes the raw rows: ``request_rollups`` (per minute, route,
method, tier and status class: counts and latency sums), ``request_hours`` (the same
per hour, so a day's figures read 24 rows per key, and the minutes only at the
window's edges), ``upstream_rollups`` (per
minute, provider and outcome) and ``latency_buckets`` (per hour: a log-scale latency
histogram of requests by route and tier, and of upstream calls by provider). The
stats read these, never the raw rows. ``health_states`` keeps each health check's
last status, and ``health_alerts`` is the outbox of the webhook alerts its changes
send, and ``dashboard_tokens`` the dashboard's one-time login links and the
sessions they open (``cachefront.observability``).

The raw tables lose their ``id``: a partitioned table's primary key must hold the
partition key, and nothing looks a metric up by id (retention no longer deletes by
it). The rows of the last 30 days are carried over; older ones would be dropped by
the first retention run anyway, and the rollups are rebuilt from what is carried.

Partitions live in the ``metrics_partitions`` schema, like the prices room's, so the
models' schema comparison (``public`` only) does not see them. They are made and
dropped at run time through two functions owned by the login role and run with its
rights (SECURITY DEFINER): ``metrics_create_partitions(day)`` and
``metrics_drop_partitions_before(day)``. ``cachefront_app`` may call them and nothing
else: it still holds no DDL right, and the functions touch only the five tables named
in them. Both take a transaction-level advisory lock, so processes creating the same
day at once both succeed. This revision creates the partitions of the days carried
over and of today and the next two days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
SCHEMA = "metrics_partitions"
TS = sa.DateTime(timezone=True)
CARRIED_DAYS = 30
# Each partitioned table and the column it is partitioned on.
PARTITIONED = {
    "request_metrics": "ts",
    "upstream_calls": "ts",
    "request_rollups": "minute",
    "request_hours": "hour",
    "upstream_rollups": "minute",
    "latency_buckets": "hour",
}


_TABLES = "ARRAY[" + ", ".join(f"'{name}'" for name in PARTITIONED) + "]"

# Built from this module's constants only (no input reaches it).
_FUNCTIONS = f"""
CREATE FUNCTION metrics_create_partitions(day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    t text;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7203114006);
    FOREACH t IN ARRAY {_TABLES} LOOP
        IF to_regclass(format('{SCHEMA}.%I', t || '_' || to_char(day, 'YYYYMMDD'))) IS NULL
        THEN
            EXECUTE format(
                'CREATE TABLE {SCHEMA}.%I PARTITION OF public.%I '
                'FOR VALUES FROM (%L) TO (%L)',
                t || '_' || to_char(day, 'YYYYMMDD'), t,
                day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;

CREATE FUNCTION metrics_drop_partitions_before(cutoff date)
RETURNS TABLE (partition text, parent text, rows bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    child record;
BEGIN
    PERFORM pg_advisory_xact_lock(7203114006);
    FOR child IN
        SELECT c.relname AS name, p.relname AS parent_name
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = ANY ({_TABLES})
          AND p.relnamespace = 'public'::regnamespace
          AND c.relnamespace = '{SCHEMA}'::regnamespace
          AND right(c.relname, 8) ~ '^[0-9]{{8}}$'
          AND to_date(right(c.relname, 8), 'YYYYMMDD') < cutoff
        ORDER BY c.relname
    LOOP
        partition := child.name;
        parent := child.parent_name;
        EXECUTE format('SELECT count(*) FROM {SCHEMA}.%I', child.name) INTO rows;
        EXECUTE format('DROP TABLE {SCHEMA}.%I', child.name);
        RETURN NEXT;
    END LOOP;
END $$;

REVOKE ALL ON FUNCTION metrics_create_partitions(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_drop_partitions_before(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metrics_create_partitions(date) TO {APP_ROLE};
GRANT EXECUTE ON FUNCTION metrics_drop_partitions_before(date) TO {APP_ROLE};
"""  # noqa: S608


def _raw_tables() -> None:
    op.create_table(
        "request_metrics",
        sa.Column("ts", TS, nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cache_tier", sa.Text(), nullable=True),
        sa.Column("upstream_calls", sa.Integer(), nullable=False),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index("ix_request_metrics_ts", "request_metrics", ["ts"], postgresql_using="brin")
    op.create_table(
        "upstream_calls",
        sa.Column("ts", TS, nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index("ix_upstream_calls_ts", "upstream_calls", ["ts"], postgresql_using="brin")


def _rollup_tables() -> None:
    op.create_table(
        "request_rollups",
        sa.Column("minute", TS, nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("status_class", sa.SmallInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("upstream_calls", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute", "route", "method", "tier", "status_class", name="pk_request_rollups"
        ),
        postgresql_partition_by="RANGE (minute)",
    )
    op.create_table(
        "request_hours",
        sa.Column("hour", TS, nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("status_class", sa.SmallInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("upstream_calls", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "route", "method", "tier", "status_class", name="pk_request_hours"
        ),
        postgresql_partition_by="RANGE (hour)",
    )
    op.create_table(
        "upstream_rollups",
        sa.Column("minute", TS, nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "provider", "outcome", name="pk_upstream_rollups"),
        postgresql_partition_by="RANGE (minute)",
    )
    op.create_table(
        "latency_buckets",
        sa.Column("hour", TS, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "kind", "name", "tier", "bucket", name="pk_latency_buckets"
        ),
        postgresql_partition_by="RANGE (hour)",
    )


def _health_tables() -> None:
    op.create_table(
        "health_states",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_health_states"),
    )
    op.create_table(
        "health_alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("gave_up_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_health_alerts"),
    )
    op.create_table(
        "dashboard_tokens",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dashboard_tokens"),
    )


# The rollups of carried-over rows, built as the recorder's flush builds them.
_REBUILD = """
INSERT INTO request_rollups
SELECT date_trunc('minute', ts, 'UTC'), route, method, coalesce(cache_tier, ''),
       status / 100, count(*), sum(upstream_calls), sum(latency_ms)
FROM request_metrics GROUP BY 1, 2, 3, 4, 5;
INSERT INTO request_hours
SELECT date_trunc('hour', minute, 'UTC'), route, method, tier, status_class, sum(requests),
       sum(upstream_calls), sum(latency_ms_sum)
FROM request_rollups GROUP BY 1, 2, 3, 4, 5;
INSERT INTO latency_buckets
SELECT date_trunc('hour', ts, 'UTC'), 'request', route, coalesce(cache_tier, ''),
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::smallint, count(*)
FROM request_metrics GROUP BY 1, 2, 3, 4, 5;
INSERT INTO upstream_rollups
SELECT date_trunc('minute', ts, 'UTC'), provider, outcome, count(*), sum(attempts),
       sum(latency_ms)
FROM upstream_calls GROUP BY 1, 2, 3;
INSERT INTO latency_buckets
SELECT date_trunc('hour', ts, 'UTC'), 'upstream', provider, '',
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::smallint, count(*)
FROM upstream_calls GROUP BY 1, 2, 3, 4, 5;
"""


def upgrade() -> None:
    op.rename_table("request_metrics", "request_metrics_0005")
    op.rename_table("upstream_calls", "upstream_calls_0005")
    op.execute("ALTER INDEX ix_request_metrics_ts RENAME TO ix_request_metrics_ts_0005")
    op.execute("ALTER INDEX ix_upstream_calls_ts RENAME TO ix_upstream_calls_ts_0005")
    _raw_tables()
    _rollup_tables()
    _health_tables()
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    today = datetime.now(UTC).date()
    bind = op.get_bind()
    carried = bind.execute(
        sa.text(
            "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM request_metrics_0005 "
            "WHERE ts >= :since UNION SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date "
            "FROM upstream_calls_0005 WHERE ts >= :since"
        ),
        {"since": datetime.now(UTC) - timedelta(days=CARRIED_DAYS)},
    ).scalars()
    days = {*carried, *(today + timedelta(days=n) for n in range(3))}
    op.execute(_FUNCTIONS)
    for day in sorted(days):
        op.execute(sa.text("SELECT metrics_create_partitions(:day)").bindparams(day=day))
    cut = {"cut": datetime.now(UTC) - timedelta(days=CARRIED_DAYS)}
    bind.execute(
        sa.text(
            "INSERT INTO request_metrics SELECT ts, method, route, status, latency_ms, "
            "cache_tier, upstream_calls FROM request_metrics_0005 WHERE ts >= :cut"
        ),
        cut,
    )
    bind.execute(
        sa.text(
            "INSERT INTO upstream_calls SELECT ts, provider, method, url, status, latency_ms, "
            "attempts, outcome, priority, error FROM upstream_calls_0005 WHERE ts >= :cut"
        ),
        cut,
    )
    op.execute(_REBUILD)
    op.drop_table("request_metrics_0005")
    op.drop_table("upstream_calls_0005")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(PARTITIONED)} TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC")
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON health_states, health_alerts, dashboard_tokens "
        f"TO {APP_ROLE}"
    )
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE health_alerts_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("dashboard_tokens")
    op.drop_table("health_alerts")
    op.drop_table("health_states")
    for table in ("latency_buckets", "upstream_rollups", "request_hours", "request_rollups"):
        op.drop_table(table)
    op.rename_table("request_metrics", "request_metrics_0006")
    op.rename_table("upstream_calls", "upstream_calls_0006")
    op.execute("ALTER INDEX ix_request_metrics_ts RENAME TO ix_request_metrics_ts_0006")
    op.execute("ALTER INDEX ix_upstream_calls_ts RENAME TO ix_upstream_calls_ts_0006")
    op.create_table(
        "request_metrics",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cache_tier", sa.Text(), nullable=True),
        sa.Column("upstream_calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_request_metrics"),
    )
    op.create_index("ix_request_metrics_ts", "request_metrics", ["ts"], postgresql_using="brin")
    op.create_table(
        "upstream_calls",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_upstream_calls"),
    )
    op.create_index("ix_upstream_calls_ts", "upstream_calls", ["ts"], postgresql_using="brin")
    op.execute(
        "INSERT INTO request_metrics (ts, method, route, status, latency_ms, cache_tier, "
        "upstream_calls) SELECT ts, method, route, status, latency_ms, cache_tier, "
        "upstream_calls FROM request_metrics_0006"
    )
    op.execute(
        "INSERT INTO upstream_calls (ts, provider, method, url, status, latency_ms, attempts, "
        "outcome, priority, error) SELECT ts, provider, method, url, status, latency_ms, "
        "attempts, outcome, priority, error FROM upstream_calls_0006"
    )
    # Dropping a parent drops every partition, wherever it lives.
    op.execute("DROP FUNCTION metrics_create_partitions(date)")
    op.execute("DROP FUNCTION metrics_drop_partitions_before(date)")
    op.drop_table("request_metrics_0006")
    op.drop_table("upstream_calls_0006")
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON request_metrics, upstream_calls TO {APP_ROLE}"
    )
