"""The AI room's quota hold and settle as functions, each one statement in one round trip.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``ai_quota_reserve_v1`` and ``ai_quota_settle_v1`` are what ``quota_postgres.py`` calls,
on a connection in autocommit: the statement is its own transaction, so the caller's
``ai_quotas`` row is locked only while it runs, and no BEGIN, COMMIT or identity
statement goes to the server around it. Each function first sets, transaction-local,
what the engine's "begin" event would have: ``cachefront.user_id`` and
``cachefront.role`` (``p_uid``, ``p_role``, the request's identity) and, behind a
transaction pooler, the app role (``p_app_role``; NULL keeps the session's). The
owner is a parameter of its own, so 0007's policy still compares the row's owner with
the identity: a hold for another caller fails as the plain upsert did. They are
SECURITY INVOKER: they run with the rights of who calls them and can do nothing that
caller could not, and the role they take must be one the login role may SET ROLE to.
plpgsql plans each statement when it first runs, after the settings and the role, so
row-level security is applied for the role the statement runs as.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
HOLD_ARGS = "text, text, text, text, date, timestamptz, bigint, bigint, bigint"
SETTLE_ARGS = "text, text, text, text, date, bigint, bigint"

_FUNCTIONS = """
CREATE FUNCTION ai_quota_reserve_v1(
    p_uid text, p_role text, p_app_role text, p_owner text, p_day date,
    p_minute timestamptz, p_tokens bigint, p_day_limit bigint, p_minute_limit bigint)
RETURNS TABLE (admitted boolean, day_tokens bigint, minute_requests integer)
LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    IF p_app_role IS NOT NULL THEN
        PERFORM set_config('role', p_app_role, true);
    END IF;
    PERFORM set_config('cachefront.user_id', p_uid, true),
            set_config('cachefront.role', p_role, true);
    admitted := false;
    -- A hold larger than the day's limit can never pass: the counters alone are read.
    IF p_tokens <= p_day_limit THEN
        -- The row lock serializes every server's holds of one caller, and PostgreSQL
        -- re-checks the WHERE against the row as the previous holder left it, so two
        -- servers can never both take the last tokens. A new day or minute starts its
        -- counter from zero. No row back: a limit would be passed.
        INSERT INTO ai_quotas AS q (owner, day, day_tokens, minute, minute_requests)
        VALUES (p_owner, p_day, p_tokens, p_minute, 1)
        ON CONFLICT (owner) DO UPDATE SET
            day_tokens = (CASE WHEN q.day = p_day THEN q.day_tokens ELSE 0 END) + p_tokens,
            day = p_day,
            minute_requests =
                (CASE WHEN q.minute = p_minute THEN q.minute_requests ELSE 0 END) + 1,
            minute = p_minute
        WHERE (CASE WHEN q.day = p_day THEN q.day_tokens ELSE 0 END) + p_tokens
                  <= p_day_limit
          AND (CASE WHEN q.minute = p_minute THEN q.minute_requests ELSE 0 END) + 1
                  <= p_minute_limit
        RETURNING q.day_tokens, q.minute_requests INTO day_tokens, minute_requests;
        admitted := FOUND;
    END IF;
    IF NOT admitted THEN
        -- Refused: what the caller has used of the day and the minute (none: no row).
        SELECT CASE WHEN q.day = p_day THEN q.day_tokens ELSE 0 END,
               CASE WHEN q.minute = p_minute THEN q.minute_requests ELSE 0 END
          INTO day_tokens, minute_requests
          FROM ai_quotas q
         WHERE q.owner = p_owner;
        day_tokens := coalesce(day_tokens, 0);
        minute_requests := coalesce(minute_requests, 0);
    END IF;
    RETURN NEXT;
END $$;

CREATE FUNCTION ai_quota_settle_v1(
    p_uid text, p_role text, p_app_role text, p_owner text, p_day date,
    p_reserved bigint, p_used bigint)
RETURNS integer
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    settled integer;
BEGIN
    IF p_app_role IS NOT NULL THEN
        PERFORM set_config('role', p_app_role, true);
    END IF;
    PERFORM set_config('cachefront.user_id', p_uid, true),
            set_config('cachefront.role', p_role, true);
    -- The hold replaced by what the call used; a hold of a day gone by is forgotten.
    UPDATE ai_quotas q
       SET day_tokens = greatest(q.day_tokens - p_reserved + p_used, 0)
     WHERE q.owner = p_owner AND q.day = p_day;
    GET DIAGNOSTICS settled = ROW_COUNT;
    RETURN settled;
END $$;
"""


def upgrade() -> None:
    op.execute(_FUNCTIONS)
    # Functions are executable by PUBLIC by default; only the app role needs them.
    for name, args in (("ai_quota_reserve_v1", HOLD_ARGS), ("ai_quota_settle_v1", SETTLE_ARGS)):
        op.execute(f"REVOKE ALL ON FUNCTION {name}({args}) FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {name}({args}) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION ai_quota_settle_v1({SETTLE_ARGS})")
    op.execute(f"DROP FUNCTION ai_quota_reserve_v1({HOLD_ARGS})")
