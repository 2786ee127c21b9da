"""cachefront: a cache-first backend in front of slow, rate-limited, costly upstream APIs."""

# The package root re-exports nothing: import from the subpackages.
__all__: list[str] = []
