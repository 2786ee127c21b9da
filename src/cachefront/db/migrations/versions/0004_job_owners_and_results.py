"""Job owners namespaced by credential kind, row-level security that fails closed, result upkeep.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- Owners: ``key-<id>`` (API keys) becomes ``key:<id>``, NULL (the service) becomes
  ``service``, every other owner (a JWT subject) becomes ``jwt:<issuer>:<sub>`` with
  the issuer of ``CACHEFRONT_JWT_ISSUER`` (empty when unset), the names
  ``cachefront.auth.identity.owner_of`` gives. Before, a token whose ``sub`` was
  ``key-1`` owned API key 1's jobs.
- The owner policy admits a row only for a non-empty ``cachefront.user_id`` equal to
  its owner, or ``cachefront.role = 'service'``: a transaction that set neither (work
  outside a request that forgot to say who it is) sees and writes nothing.
- ``result_bytes`` (the storage quota sums it) and ``result_expires_at`` (results
  expire; those stored before expire ``CACHEFRONT_JOBS_RESULT_TTL_HOURS`` after their
  job finished); ``result`` is stored uncompressed out of line (``STORAGE EXTERNAL``) so a
  download reads it in slices with ``substring()`` without decompressing from the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from cachefront.config import Settings

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

POLICY = "owner_only"

_FAIL_CLOSED_POLICY = (
    f"CREATE POLICY {POLICY} ON jobs "
    "USING (owner = NULLIF(current_setting('cachefront.user_id', true), '') "
    "OR current_setting('cachefront.role', true) = 'service') "
    "WITH CHECK (owner = NULLIF(current_setting('cachefront.user_id', true), '') "
    "OR current_setting('cachefront.role', true) = 'service')"
)
# The policy of 0003, restored by the downgrade.
_PREVIOUS_POLICY = (
    f"CREATE POLICY {POLICY} ON jobs "
    "USING (owner = current_setting('cachefront.user_id', true) "
    "OR current_setting('cachefront.role', true) = 'service') "
    "WITH CHECK (owner = current_setting('cachefront.user_id', true) "
    "OR current_setting('cachefront.role', true) = 'service')"
)


def _settings() -> Settings:
    # The issuer the server checks tokens against names the JWT owners, and the result
    # lifetime dates results stored before, as the server would.
    from cachefront.config import Settings

    return Settings()


def upgrade() -> None:
    # The migration runs as the login role, outside any request: say it is the service
    # so the rewrite sees every row whatever the policy.
    op.execute("SELECT set_config('cachefront.role', 'service', true)")
    op.execute(
        sa.text(
            "UPDATE jobs SET owner = CASE "
            "WHEN owner IS NULL THEN 'service' "
            "WHEN owner ~ '^key-[0-9]+$' THEN 'key:' || substr(owner, 5) "
            "ELSE 'jwt:' || :issuer || ':' || owner END"
        ).bindparams(issuer=(_settings().jwt_issuer or ""))
    )
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON jobs")
    op.execute(_FAIL_CLOSED_POLICY)
    op.add_column("jobs", sa.Column("result_bytes", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("result_expires_at", sa.DateTime(timezone=True), nullable=True))
    # Results stored before get their size and the lifetime new ones get, from when
    # their job finished, so they count against the quota and expire too.
    op.execute(
        sa.text(
            "UPDATE jobs SET result_bytes = octet_length(result), result_expires_at = "
            "coalesce(finished_at, updated_at) + make_interval(secs => :ttl) "
            "WHERE result IS NOT NULL"
        ).bindparams(ttl=_settings().jobs_result_ttl_hours * 3600)
    )
    op.execute("ALTER TABLE jobs ALTER COLUMN result SET STORAGE EXTERNAL")
    # The quota sums a user's live results; the cleanup finds expired ones.
    op.create_index(
        "ix_jobs_result_expires_at",
        "jobs",
        ["result_expires_at"],
        postgresql_where=sa.text("result IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute("SELECT set_config('cachefront.role', 'service', true)")
    op.drop_index("ix_jobs_result_expires_at", table_name="jobs")
    op.execute("ALTER TABLE jobs ALTER COLUMN result SET STORAGE EXTENDED")
    op.drop_column("jobs", "result_expires_at")
    op.drop_column("jobs", "result_bytes")
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON jobs")
    op.execute(_PREVIOUS_POLICY)
    prefix = f"jwt:{(_settings().jwt_issuer or '')}:"
    op.execute(
        sa.text(
            "UPDATE jobs SET owner = CASE "
            "WHEN owner = 'service' THEN NULL "
            "WHEN owner ~ '^key:[0-9]+$' THEN 'key-' || substr(owner, 5) "
            "WHEN left(owner, length(:prefix)) = :prefix "
            "THEN substr(owner, length(:prefix) + 1) "
            "ELSE owner END"
        ).bindparams(prefix=prefix)
    )
