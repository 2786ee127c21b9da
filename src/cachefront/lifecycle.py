"""A base for resources opened and closed by the app's lifespan, usable with `async with`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


class AsyncResource:
    """Something with ``open()`` and ``aclose()``; ``async with`` calls both."""

    async def open(self) -> None:
        """Acquire what the resource needs (connections, pools); default: nothing."""

    async def aclose(self) -> None:
        """Release what ``open`` acquired; default: nothing."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
