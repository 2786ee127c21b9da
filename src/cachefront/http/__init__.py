"""The HTTP layer: the server, the gate, the fast path, wire helpers and problem responses."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
