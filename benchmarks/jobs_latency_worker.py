"""A `cachefront worker` with the benchmark's no-op task added, for jobs_latency.py."""

from __future__ import annotations

from procrastinate import App

import cachefront.jobs.queue as queue_module

_build = queue_module.build_queue_app


def _with_noop(*args: object, **kwargs: object) -> App:
    app = _build(*args, **kwargs)  # type: ignore[arg-type]

    async def noop() -> None:
        return None

    app.task(name="benchmark-noop", queue=queue_module.PERIODIC_QUEUE)(noop)
    return app


queue_module.build_queue_app = _with_noop  # type: ignore[assignment]

if __name__ == "__main__":
    import cachefront.jobs.runtime as runtime_module

    runtime_module.build_queue_app = _with_noop  # type: ignore[assignment]
    from cachefront.jobs.cli import cli

    cli(["worker"])
