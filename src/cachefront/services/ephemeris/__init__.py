"""The ephemeris room: positions of solar-system bodies on a time grid."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
