"""Metrics: the request recorder, its flush to PostgreSQL, and the stats routes."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
