"""Local stand-ins for upstream APIs, for tests and offline runs."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
