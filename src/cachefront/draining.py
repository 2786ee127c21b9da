"""Whether this process's server has begun to shut down, for work that should end early.

uvicorn, on SIGTERM, stops accepting and waits for open requests and streams (up to
``CACHEFRONT_SHUTDOWN_TIMEOUT_SECONDS``). A stream that its client can resume elsewhere
(a job's event stream: ``Last-Event-ID``) should not hold the process that long: it
registers with ``when_draining`` and ends once the server starts draining, which the
HTTP protocol announces (``http/server.py``). One state per event loop: one server runs
per loop, and tests run several servers in one process, each in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterator

__all__ = ["begin_draining", "is_draining", "when_draining"]


class _Drain:
    __slots__ = ("callbacks", "started")

    def __init__(self) -> None:
        self.started = False
        self.callbacks: set[Callable[[], None]] = set()


_drains: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Drain] = weakref.WeakKeyDictionary()


def _drain_of(loop: asyncio.AbstractEventLoop) -> _Drain:
    drain = _drains.get(loop)
    if drain is None:
        drain = _drains[loop] = _Drain()
    return drain


def begin_draining(loop: asyncio.AbstractEventLoop) -> None:
    """Say that the server of ``loop`` is shutting down; calls each callback once."""
    drain = _drain_of(loop)
    if drain.started:
        return
    drain.started = True
    callbacks, drain.callbacks = drain.callbacks, set()
    for callback in callbacks:
        callback()


def is_draining() -> bool:
    """Whether the server of the running loop is shutting down."""
    drain = _drains.get(asyncio.get_running_loop())
    return drain is not None and drain.started


@contextlib.contextmanager
def when_draining(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` (on the running loop) if the server starts to drain meanwhile;
    at once if it already has."""
    drain = _drain_of(asyncio.get_running_loop())
    if drain.started:
        callback()
        yield
        return
    drain.callbacks.add(callback)
    try:
        yield
    finally:
        drain.callbacks.discard(callback)
