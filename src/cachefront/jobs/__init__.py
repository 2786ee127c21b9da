"""Background jobs: a PostgreSQL queue (procrastinate), periodic tasks and user jobs.

Import the runtime, routes and CLI from their modules; this package root only holds
the light, shared pieces so that table registration stays free of import cycles.
"""

from __future__ import annotations

from cachefront.jobs.status import JobStatus

__all__ = ["JobStatus"]
