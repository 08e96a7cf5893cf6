"""OpenTelemetry: with WARDBOOK_OTLP_ENDPOINT every request is a server span, exported over
OTLP/HTTP, continuing the caller's trace, and carrying no PHI (no ids, no query)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.ops.tracing import TracingMiddleware
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if self.path == "/v1/traces":
                received.append(self.rfile.read(length))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def tracing_layer(app: Any) -> TracingMiddleware:
    while not isinstance(app, TracingMiddleware):
        app = app.app
    return app


async def test_requests_become_spans_in_the_callers_trace(
    repository: Repository, collector: tuple[str, list[bytes]]
) -> None:
    endpoint, received = collector
    app = build_app(Settings(env="test", no_auth=True, otlp_endpoint=endpoint), repository)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir") as client:
        created = await client.post(
            "/Patient", json={"resourceType": "Patient", "name": [{"family": "Secretname"}]}
        )
        pid = created.json()["id"]
        headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        assert (await client.get(f"/Patient/{pid}", headers=headers)).status_code == 200
        assert (await client.get("/Patient?name=Secretname")).status_code == 200
    provider = tracing_layer(app).provider
    assert provider.force_flush(10_000)
    spans = []
    for body in received:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            assert service == "wardbook"
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    names = [span.name for span in spans]
    assert "POST create Patient" in names
    assert "GET read Patient" in names
    assert "GET search-type Patient" in names
    read = next(span for span in spans if span.name == "GET read Patient")
    assert read.trace_id.hex() == TRACE_ID  # the caller's trace continued
    attributes = {a.key: a.value for a in read.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["wardbook.request_id"].string_value
    everything = b"".join(received)
    assert pid.encode() not in everything  # no ids ...
    assert b"Secretname" not in everything  # ... and no query strings or bodies
    provider.shutdown()


async def test_no_endpoint_no_tracing(repository: Repository) -> None:
    app = build_app(Settings(env="test", no_auth=True), repository)
    with pytest.raises(AttributeError):
        tracing_layer(app)
