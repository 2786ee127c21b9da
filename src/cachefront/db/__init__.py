"""Database access: the engine, named queries, migrations and the embedded PostgreSQL."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
