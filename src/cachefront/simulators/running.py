"""A simulator app served on a free port of 127.0.0.1 from a background thread.

Tests and benchmarks need a real server they can start, call and stop in the same
process; ``RunningServer`` is that handle, with the calls of the control endpoints
every simulator answers (``/_stats``, ``/_reset``, ``/_config``).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import uvicorn
from starlette.applications import Starlette

from cachefront.simulators.base import SimulatorBase

__all__ = ["RunningServer"]


class RunningServer:
    """``app`` on a free port of 127.0.0.1, served from a thread called ``name``.

    Use as a context manager; ``root`` (and, unless a subclass says otherwise,
    ``base_url``) is ``http://127.0.0.1:PORT``. ``lifespan`` and ``log_level`` are
    uvicorn's.
    """

    def __init__(
        self,
        app: Starlette,
        name: str,
        *,
        lifespan: Literal["on", "off"] = "on",
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self._name = name
        self._lifespan: Literal["on", "off"] = lifespan
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.root = ""

    @property
    def base_url(self) -> str:
        return self.root

    @property
    def simulator(self) -> Any:
        return self.app.state.simulator

    def start(self, timeout: float = 30.0) -> None:
        """Serve on a free port; returns once the server accepts connections."""
        # Port 0: the kernel picks a free port when uvicorn binds, so there is no race
        # between choosing a port and taking it.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level=self._log_level,
            access_log=False,
            lifespan=self._lifespan,
            loop="asyncio",
            ws="none",
            # Requests held by a long configured latency must not hold up stopping.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name=self._name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self._name} did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.root = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish and wait for its thread."""
        # Latency waits end at once (answering 503), so stopping does not wait them out.
        if isinstance(self.simulator, SimulatorBase):
            self.simulator.wake_delayed()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, self.root + path, json=payload, timeout=10.0)
        response.raise_for_status()
        # An empty answer (a 204 from /_reset) stands for no fields.
        return response.json() if response.content else {}

    def stats(self) -> dict[str, Any]:
        """The counters (``requests``, ``by_status``...) as ``/_stats`` shows them."""
        result: dict[str, Any] = self._call("GET", "/_stats")
        return result

    def reset(self) -> dict[str, Any]:
        """Zero the counters and the rate windows."""
        result: dict[str, Any] = self._call("POST", "/_reset")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings of the running simulator (``latency_ms``, ``error_rate``...)."""
        result: dict[str, Any] = self._call("POST", "/_config", changes)
        return result

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
