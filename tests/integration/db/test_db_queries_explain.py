"""Every named statement is valid SQL for the real schema: PostgreSQL plans each one."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

PACKAGES = [
    "cachefront.auth",
    "cachefront.cache",
    "cachefront.jobs",
    "cachefront.metrics",
    "cachefront.observability",
]
# COPY and DDL cannot be planned, and the flush reads a temporary table the staging
# statement makes; the recorder's flush tests run them all for real.
NOT_PLANNABLE = {
    "stage_requests",
    "copy_staged_requests",
    "flush_requests",
    "stage_upstream_calls",
    "copy_staged_upstream_calls",
    "flush_upstream_calls",
}

STATEMENTS = [
    (package, name)
    for package in PACKAGES
    for name in load_queries(package)
    if name not in NOT_PLANNABLE
]


@pytest.mark.parametrize(("package", "name"), STATEMENTS, ids=[n for _, n in STATEMENTS])
async def test_postgresql_plans_the_statement(engine: AsyncEngine, package: str, name: str) -> None:
    queries = load_queries(package)
    sql = queries[name]
    # EXPLAIN without ANALYZE plans a statement without running it; NULL fits every
    # parameter's type, so a typo in a table, a column or the syntax fails here.
    async with engine.connect() as conn:
        if "%(" in sql:  # a statement for the driver: psycopg parameters
            names = [part.split(")s", 1)[0] for part in sql.split("%(")[1:]]
            await conn.exec_driver_sql("EXPLAIN " + sql, dict.fromkeys(names))
        else:
            clause = queries.text(name)
            params = dict.fromkeys(clause.compile().params)
            await conn.execute(text("EXPLAIN " + sql), params)
        await conn.rollback()
