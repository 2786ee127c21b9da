"""Process-wide tuning of a server worker (the garbage collector), applied once it serves.

This belongs to the processes `cachefront serve` starts, not to the application: an
app built by ``create_app`` inside another program, or a test, must not have the
collector of its whole process changed under it. uvicorn runs no code of ours per
worker between the lifespan's startup and the first connection, so the server's
protocol (``http/server.py``) calls ``tune_process`` as each connection is made: the
first one in a process tunes it, after the app was built and its lifespan ran; every
later one costs a check of a flag.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLD", "tune_process"]

# Requests make short-lived, acyclic garbage that reference counting frees; collecting
# the young generation every 700 allocations (the default) buys nothing.
GC_THRESHOLD = (50_000, 20, 100)

# A plain flag, not a pid: a forked child inherits the tuned collector with it.
_tuned = False


def tune_process() -> None:
    """Freeze what is allocated so far and raise the collector's thresholds, once."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    # Everything allocated so far (libraries, kernels, pools) lives as long as the
    # process: move it out of the collector's sight so that collections triggered by
    # request garbage do not traverse it every time (tail latency).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
