"""OpenTelemetry tracing, on when an OTLP endpoint is configured (issue 10, item 4).

``WARDBOOK_OTLP_ENDPOINT`` (e.g. ``http://otel-collector:4318``) turns it on: every HTTP
request becomes a server span (W3C ``traceparent`` from the caller continued), exported in
batches over OTLP/HTTP to ``{endpoint}/v1/traces``. Without it nothing is installed and
requests pay nothing.

Spans carry no PHI: the method, the route *template* (the FHIR interaction and resource
type, never the id or the query string, which can hold names and identifiers), the status
code and the request id.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wardbook import __version__
from wardbook.ops.logging import request_id_var
from wardbook.ops.metrics import interaction_label


def tracer_provider(endpoint: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """A provider exporting to ``endpoint`` (OTLP/HTTP) in batches."""
    resource = Resource.create({"service.name": "wardbook", "service.version": __version__})
    provider = TracerProvider(resource=resource)
    span_exporter = exporter or OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=1000))
    return provider


class TracingMiddleware:
    """One server span per HTTP request (inside the request-id middleware)."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        self.app = app
        self.provider = provider
        self.tracer = provider.get_tracer("wardbook")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers") or ()
            if key in (b"traceparent", b"tracestate")
        }
        status = 500
        method = scope.get("method", "GET")

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method, context=extract(carrier), kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                interaction, resource_type = interaction_label(scope)
                attributes: dict[str, Any] = {
                    "http.request.method": method,
                    "http.response.status_code": status,
                    "wardbook.interaction": interaction,
                    "fhir.resource_type": resource_type,
                }
                request_id = request_id_var.get()
                if request_id:
                    attributes["wardbook.request_id"] = request_id
                span.set_attributes(attributes)
                span.update_name(f"{method} {interaction} {resource_type}")
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def install(app: ASGIApp, endpoint: str | None) -> ASGIApp:
    """``app`` wrapped for tracing when ``endpoint`` is set, else ``app`` itself."""
    if not endpoint:
        return app
    provider = tracer_provider(endpoint)
    trace.set_tracer_provider(provider)
    return TracingMiddleware(app, provider)
