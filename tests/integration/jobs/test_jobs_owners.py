"""Job owners are namespaced by credential kind: no token can take an API key's name."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import psycopg

from cachefront.auth.keys import generate_key
from cachefront.config import Settings
from harness_servers import ServerThread
from jobs_harness import libpq, user_headers

EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-01T03:00:00Z",
        "step": "1h",
    },
}


def _user_key(database_url: str) -> tuple[str, int]:
    """A new API key of the user role, and its id."""
    key, prefix, key_hash = generate_key()
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO api_keys (name, prefix, key_hash, role) "
            "VALUES (%s, %s, %s, 'user') RETURNING id",
            (f"owners-{uuid.uuid4().hex[:6]}", prefix, key_hash),
        ).fetchone()
    assert row is not None
    return key, int(row[0])


def test_a_token_whose_sub_is_a_key_owner_id_sees_none_of_its_jobs(
    database_url: str, job_settings: Callable[..., Settings]
) -> None:
    key, key_id = _user_key(database_url)
    settings = job_settings(worker_in_process=False)
    with ServerThread(settings) as server, httpx.Client(base_url=server.url) as client:
        submitted = client.post("/v1/jobs", json=EXPORT, headers={"Authorization": f"Bearer {key}"})
        assert submitted.status_code == 202, submitted.text
        location = submitted.headers["Location"]
        assert client.get(location, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        # Every name the key's owner has gone by, old and new, tried as a token subject.
        for sub in (f"key-{key_id}", str(key_id), f"key:{key_id}"):
            impostor = user_headers(sub)
            assert client.get("/v1/jobs", headers=impostor).json() == [], sub
            assert client.get(location, headers=impostor).status_code == 404, sub
            assert client.delete(location, headers=impostor).status_code == 404, sub
        with psycopg.connect(libpq(database_url)) as conn:
            owners = conn.execute("SELECT owner FROM jobs").fetchall()
        assert owners == [(f"key:{key_id}",)]
        # A token's own jobs are named after its issuer and subject.
        mine = client.post("/v1/jobs", json=EXPORT, headers=user_headers(f"key-{key_id}"))
        assert mine.status_code == 202
        with psycopg.connect(libpq(database_url)) as conn:
            row = conn.execute("SELECT owner FROM jobs WHERE id = %s", (mine.json()["id"],))
            assert row.fetchone() == (f"jwt::key-{key_id}",)
