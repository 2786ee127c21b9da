-- The embedded PostgreSQL's statements (db/embedded.py).

-- name: embedded_database_exists
-- Sent through the embedded server's psql: {database} is the constant name of the
-- embedded database (db/embedded.py), never input.
SELECT 1 FROM pg_database WHERE datname = '{database}';

-- name: create_embedded_database
CREATE DATABASE {database};
