"""OpenTelemetry traces over OTLP/HTTP: a server span per request, child spans from the hooks.

Imported only when ``CACHEFRONT_OTEL_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) is
set (``composition.tracer_from``): without it, no module of the OpenTelemetry SDK or
exporter is loaded and no layer of this module is in the stack. It needs the ``otel``
extra (``pip install cachefront[otel]``).

``OtelTracer`` owns a ``TracerProvider`` of its own (not the process-wide one, so two
apps in a process keep their traces apart) that batches spans in a background thread
and posts them to ``<endpoint>/v1/traces``. ``TracingApp`` is the outermost ASGI layer:
it continues the caller's trace from a W3C ``traceparent`` header, opens the request's
server span, and makes the tracer current (``cachefront.tracing.current_tracer``) so
that the cache's tier reads and the upstream client's calls become its children.
Direct hits (``http/direct.py``) are answered before ASGI and are not traced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.http.access import RouteNames, caller_of, x_cache_of
from cachefront.http.wire import REQUEST_ID_SCOPE_KEY
from cachefront.logs import mask_url
from cachefront.tracing import AttributeValue, Span, SpanKind, current_tracer

__all__ = ["OtelTracer", "TracingApp"]

_KINDS = {"internal": trace.SpanKind.INTERNAL, "client": trace.SpanKind.CLIENT}
_PROPAGATED = frozenset({b"traceparent", b"tracestate"})
_PROPAGATOR = TraceContextTextMapPropagator()


class OtelTracer:
    """Spans of one app, exported in batches to an OTLP/HTTP endpoint."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        self.endpoint = endpoint.rstrip("/") + "/v1/traces"
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(self.endpoint)))
        self.tracer = self.provider.get_tracer("cachefront")

    def span(
        self, name: str, attributes: Mapping[str, AttributeValue], kind: SpanKind
    ) -> AbstractContextManager[Span]:
        return self.tracer.start_as_current_span(name, kind=_KINDS[kind], attributes=attributes)

    @contextmanager
    def server_span(self, scope: Scope) -> Iterator[trace.Span]:
        """The server span of the request of ``scope``, continuing its caller's trace."""
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATED
        }
        query = scope.get("query_string", b"")
        path = scope["path"]
        target = mask_url(f"{path}?{query.decode('latin-1')}") if query else path
        with self.tracer.start_as_current_span(
            scope["method"],
            context=_PROPAGATOR.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": target},
        ) as span:
            yield span

    def flush(self) -> None:
        """Send the spans ended so far (blocking: from a thread, or at shutdown)."""
        self.provider.force_flush()

    def shutdown(self) -> None:
        """Send what is left and stop the export thread (blocking)."""
        self.provider.shutdown()


class TracingApp:
    """ASGI layer that traces each HTTP request as a server span (see the module doc)."""

    def __init__(self, app: ASGIApp, tracer: OtelTracer, names: RouteNames) -> None:
        self.app = app
        self.tracer = tracer
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.tracer.server_span(scope) as span:
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    tier = x_cache_of(message)
                    if tier is not None:
                        span.set_attribute("cachefront.cache.tier", tier)
                await send(message)

            token = current_tracer.set(self.tracer)
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                current_tracer.reset(token)
                route = self.names.of(scope)
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute(
                    "cachefront.request_id", scope.get(REQUEST_ID_SCOPE_KEY, b"").decode("latin-1")
                )
                caller = caller_of(scope)
                if caller is not None:
                    span.set_attribute("cachefront.caller", caller)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
