"""Observability: health checks and their alerts, Prometheus exposition, the dashboard."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
