"""The job tests' fixtures, shared with tests/faults/."""

from __future__ import annotations

from jobs_fixtures import clean_jobs, job_settings, jobs_simulator, jobs_simulator_session

__all__ = ["clean_jobs", "job_settings", "jobs_simulator", "jobs_simulator_session"]
