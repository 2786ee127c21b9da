"""Per-minute latency histograms, so the percentiles of short windows cover only them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``latency_minutes`` is ``latency_buckets`` per minute (same kinds, names, tiers and
log-scale buckets), partitioned by day like the other metrics tables. The stats read
a window's whole hours from the hourly histograms and the minutes at its edges from
this one, as they already did for the counts, so the health check's 15-minute p95
reads those 15 minutes and not the hour or two they touch. It is filled from the raw
rows already kept, and the partition functions of 0006 are replaced by ones that
know the new table (the list of tables is their only change).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
SCHEMA = "metrics_partitions"
TS = sa.DateTime(timezone=True)
BEFORE = (
    "request_metrics",
    "upstream_calls",
    "request_rollups",
    "request_hours",
    "upstream_rollups",
    "latency_buckets",
)
AFTER = (*BEFORE, "latency_minutes")


def _functions(tables: tuple[str, ...]) -> str:
    """0006's two partition functions over ``tables`` (this module's constants only)."""
    names = "ARRAY[" + ", ".join(f"'{name}'" for name in tables) + "]"
    return f"""
CREATE OR REPLACE FUNCTION metrics_create_partitions(day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    t text;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7203114006);
    FOREACH t IN ARRAY {names} LOOP
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

CREATE OR REPLACE FUNCTION metrics_drop_partitions_before(cutoff date)
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
        WHERE p.relname = ANY ({names})
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
"""  # noqa: S608


# The days that have metrics partitions: the new table gets one for each.
_DAYS = f"""
SELECT DISTINCT to_date(right(c.relname, 8), 'YYYYMMDD')
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'request_metrics' AND c.relnamespace = '{SCHEMA}'::regnamespace
  AND right(c.relname, 8) ~ '^[0-9]{{8}}$'
"""  # noqa: S608 (built from this module's constants only)

# The histograms of the raw rows kept, built as the recorder's flush builds them.
_FILL = """
INSERT INTO latency_minutes
SELECT date_trunc('minute', ts, 'UTC'), 'request', route, coalesce(cache_tier, ''),
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::smallint, count(*)
FROM request_metrics GROUP BY 1, 2, 3, 4, 5;
INSERT INTO latency_minutes
SELECT date_trunc('minute', ts, 'UTC'), 'upstream', provider, '',
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::smallint, count(*)
FROM upstream_calls GROUP BY 1, 2, 3, 4, 5;
"""


def upgrade() -> None:
    op.create_table(
        "latency_minutes",
        sa.Column("minute", TS, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute", "kind", "name", "tier", "bucket", name="pk_latency_minutes"
        ),
        postgresql_partition_by="RANGE (minute)",
    )
    op.execute(_functions(AFTER))
    bind = op.get_bind()
    for day in sorted(bind.execute(sa.text(_DAYS)).scalars()):
        op.execute(sa.text("SELECT metrics_create_partitions(:day)").bindparams(day=day))
    op.execute(_FILL)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON latency_minutes TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(_functions(BEFORE))
    # Dropping a parent drops every partition, wherever it lives.
    op.drop_table("latency_minutes")
