"""Work the cache does in the background, marked so that no request is charged for it.

A revalidation or an overtime call runs in a copy of the context of the request that
started it, so whatever the request carries in context variables would see that work
as its own. The cache marks such contexts instead; whoever counts per request (the
metrics, at the composition root) asks ``in_background`` and leaves them out.
"""

from __future__ import annotations

import contextvars

__all__ = ["background_context", "in_background"]

_in_background: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "cachefront_cache_background", default=False
)


def background_context() -> contextvars.Context:
    """A copy of the current context, marked as the cache's background work."""
    context = contextvars.copy_context()
    context.run(_in_background.set, True)
    return context


def in_background() -> bool:
    """True inside work the cache started in the background (revalidation, overtime)."""
    return _in_background.get()
