"""Migration 0004 renames existing job owners by credential kind and dates their results;
its downgrade undoes it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from cachefront.db.migrate import alembic_config, current_revision, upgrade
from jobs_harness import create_database, drop_database, libpq

OLD_TO_NEW = {
    "key-7": "key:7",  # an API key's jobs
    "d2c1f0e4-user": "jwt::d2c1f0e4-user",  # a token subject (no issuer configured)
    None: "service",  # submitted by the service
}


@pytest.fixture
def database_at_0003(database_url: str) -> Iterator[str]:
    url = create_database(database_url, revision="0003")
    yield url
    drop_database(database_url, url)


def _owners(url: str) -> dict[uuid.UUID, str | None]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return dict(conn.execute("SELECT id, owner FROM jobs").fetchall())


def test_owners_are_renamed_on_upgrade_and_restored_on_downgrade(database_at_0003: str) -> None:
    url = database_at_0003
    ids = {old: uuid.uuid4() for old in OLD_TO_NEW}
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for old, job_id in ids.items():
            conn.execute(
                "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at, "
                "result) VALUES (%s, 'test', %s, '{}', 'succeeded', now(), now(), 'abc')",
                (job_id, old),
            )
    upgrade(url, "0004")
    assert current_revision(url) == "0004"
    assert _owners(url) == {ids[old]: new for old, new in OLD_TO_NEW.items()}
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        kept = set(conn.execute("SELECT result_bytes, result_expires_at > now() FROM jobs"))
    # Results stored before count against the quota and expire like new ones.
    assert kept == {(3, True)}

    command.downgrade(alembic_config(url), "0003")
    assert current_revision(url) == "0003"
    assert _owners(url) == {job_id: old for old, job_id in ids.items()}
    upgrade(url)
    assert _owners(url) == {ids[old]: new for old, new in OLD_TO_NEW.items()}
