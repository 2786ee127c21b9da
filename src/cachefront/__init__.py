"""cachefront: a cache-first backend in front of slow, rate-limited, costly upstream APIs."""
