-- The embedded PostgreSQL's statements (db/embedded.py).

-- name: embedded_database_exists
-- Sent through the embedded server's psql: {database} is the constant name of the
-- embedded database (db/embedded.py), never input.
SELECT 1 FROM pg_database WHERE datname = '{database}';

-- name: create_embedded_database
CREATE DATABASE {database};

-- The read engine's check of a replica (db/replica.py).

-- name: replica_lag
-- Seconds the replica is behind: 0 when it has replayed all it received (an idle
-- primary sends nothing, and the last replayed transaction then looks old without the
-- replica being behind), else the age of the last transaction it replayed. NULL
-- recovery means the server is a primary, not a replica.
SELECT pg_is_in_recovery() AS in_recovery,
       CASE
           WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
           ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0.0)
       END::float8 AS lag_seconds;

-- The shared LISTEN connection's check (db/listener.py).

-- name: listener_ping
-- Run by a listener after a quiet second: a broken connection shows.
SELECT 1;
