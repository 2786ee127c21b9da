"""The tracing hooks the cache and the upstream client call: spans when a tracer runs, else nothing.

The core never imports OpenTelemetry. It calls ``span``, ``lookup`` and ``mark`` here,
which look up the tracer of the request being answered (``current_tracer``, set by
the tracing layer, ``observability/otel.py``, only when ``CACHEFRONT_OTEL_ENDPOINT``
is set) and, without one, return a shared do-nothing span: one context variable read
per hook, no allocation, no import. Work outside a traced request (jobs, the direct
path) makes no spans; background work a request started (a revalidation) is traced
under that request, whose context it copied.

A ``Tracer`` is anything that opens a span as a context manager; the spans it yields
take ``set_attribute`` like OpenTelemetry's, which they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Literal, Protocol

__all__ = [
    "NO_SPAN",
    "AttributeValue",
    "Span",
    "SpanKind",
    "Tracer",
    "current_tracer",
    "lookup",
    "mark",
    "note_hits",
    "span",
]

AttributeValue = str | bool | int | float | Sequence[str]
SpanKind = Literal["internal", "client"]


class Span(Protocol):
    def set_attribute(self, key: str, value: AttributeValue) -> None: ...


class Tracer(Protocol):
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue], kind: SpanKind
    ) -> AbstractContextManager[Span]:
        """A span named ``name``, the current one's child, open for the ``with`` block."""


class _NoSpan:
    """The span of untraced work: a context manager and a span that do nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None


NO_SPAN = _NoSpan()

current_tracer: ContextVar[Tracer | None] = ContextVar("cachefront_tracer", default=None)


def span(
    name: str, attributes: Mapping[str, AttributeValue], kind: SpanKind = "internal"
) -> AbstractContextManager[Span]:
    """A child span of the traced request being answered, or ``NO_SPAN`` outside one."""
    tracer = current_tracer.get()
    if tracer is None:
        return NO_SPAN
    return tracer.span(name, attributes, kind)


def lookup(tier: str, ns: str, keys: int) -> AbstractContextManager[Span]:
    """The span of one read of ``keys`` keys of namespace ``ns`` from cache tier ``tier``."""
    tracer = current_tracer.get()
    if tracer is None:
        return NO_SPAN
    attributes: dict[str, AttributeValue] = {
        "cachefront.namespace": ns,
        "cachefront.cache.tier": tier,
        "cachefront.keys": keys,
    }
    return tracer.span(f"cache.{tier}", attributes, "internal")


def note_hits(traced: Span, hits: int, keys: int) -> None:
    """Say on a ``lookup`` span how many of its keys the tier had: hit, miss or partial."""
    if traced is NO_SPAN:
        return
    traced.set_attribute("cachefront.cache.hits", hits)
    result = "hit" if hits == keys else "miss" if hits == 0 else "partial"
    traced.set_attribute("cachefront.cache.result", result)


def mark(tier: str, ns: str) -> None:
    """A span for a one-key hit already answered (the memory tier's, which takes no time)."""
    tracer = current_tracer.get()
    if tracer is None:
        return
    with lookup(tier, ns, 1) as traced:
        note_hits(traced, 1, 1)
