-- The embedded PostgreSQL's statements (db/embedded.py).

-- name: embedded_database_exists
-- Sent through the embedded server's psql: {database} is the constant name of the
-- embedded database (db/embedded.py), never input.
SELECT 1 FROM pg_database WHERE datname = '{database}';

-- name: create_embedded_database
CREATE DATABASE {database};

-- The read engine's check of a replica (db/replica.py).

-- name: replica_lag
-- What the replica says of itself: whether it is one (NULL recovery: a primary), the
-- WAL position it has replayed through (compared with the primary's in
-- db/replica.py), and the age of the last transaction it replayed while WAL it
-- received waits for replay (0 when it has replayed all it received: an idle primary
-- sends nothing, and the last replayed transaction then looks old without the replica
-- being behind).
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       CASE
           WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
           ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0.0)
       END::float8 AS lag_seconds;

-- name: primary_flush_lsn
-- Where the primary's WAL is flushed to: every transaction committed so far (with
-- synchronous_commit on, a commit returns once its WAL is flushed) lies before it.
SELECT pg_current_wal_flush_lsn()::text AS lsn;

-- name: replayed_through
-- Whether the replica has replayed the primary's WAL through :lsn, so a read on it
-- sees every commit that came before.
SELECT COALESCE(pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn), false) AS replayed;

-- name: listener_ping
-- Run by the shared LISTEN connection (db/listener.py) after a quiet second: a broken
-- connection shows.
SELECT 1;
