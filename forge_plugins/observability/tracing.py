"""OpenTelemetry tracing of one gateway: its tracer provider, and W3C trace context in and out.

Layer: plugin (observability). `observer` opens a span per MCP request (continuing the client's
`traceparent`) and one per upstream call; `instrument_http_client` makes an httpx client send the
current span's `traceparent` with every request (the REST adapter's client is instrumented at
start-up). Each gateway has its own tracer provider, never the process-global one, so gateways
side by side in one process (tests) keep their spans apart. The OpenTelemetry context itself is
process-wide, so the MCP SDK's client (federation) sends Forge's current span as
`_meta.traceparent` on its own.

Nothing leaves the process unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
is set: then spans are exported over OTLP/HTTP in batches, from a thread of the SDK.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("forge.observability")

W3C = TraceContextTextMapPropagator()
TRACE_FIELDS = ("traceparent", "tracestate")


def otlp_endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class Tracing:
    """A gateway's tracer. `provider` is public so tests (or a plugin) can add span processors."""

    def __init__(self, service_name: str, version: str):
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": name, "service.version": version})
        )
        if otlp_endpoint_configured():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # The exporter reads the endpoint, headers, certificates and timeout from OTEL_* itself.
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            log.info("OpenTelemetry: exporting spans over OTLP/HTTP")
        self.tracer = self.provider.get_tracer("forge", version)

    def start(
        self, name: str, kind: SpanKind, attributes: dict, parent: Context | None = None
    ) -> tuple[Span, object]:
        """Start a span and make it current; answers it and the token `finish` needs."""
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    @staticmethod
    def finish(span: Span, token, failure: str | None = None) -> None:
        """End a span started by `start` (with ERROR status when `failure` says why) and, given
        its token, restore the context that was current before it."""
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end()
        if token is not None:
            otel_context.detach(token)

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes the OTLP batch, if any


def client_context(params: Any, headers: Mapping[str, str] | None) -> Context | None:
    """The trace context a client sent: `params._meta.traceparent` (MCP's SEP-414, what the SDKs
    send) first, else the HTTP `traceparent` header; None when neither holds a valid one."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    for carrier in (meta, headers):
        if isinstance(carrier, Mapping) and isinstance(carrier.get("traceparent"), str):
            fields = {name: carrier[name] for name in TRACE_FIELDS if isinstance(carrier.get(name), str)}
            context = W3C.extract(fields, context=Context())
            if trace.get_current_span(context).get_span_context().is_valid:
                return context
    return None


def inject_trace_context(carrier: dict | httpx.Headers) -> None:
    """Add the current span's `traceparent` (and `tracestate`) to outgoing headers or a `_meta`."""
    W3C.inject(carrier)


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """Make `client` send the current trace context with every request (httpx event hooks), and
    note each answer's status on the current span."""
    hooks = client.event_hooks
    client.event_hooks = {
        "request": [*hooks.get("request", []), _send_trace_context],
        "response": [*hooks.get("response", []), _note_status],
    }


async def _send_trace_context(request: httpx.Request) -> None:
    W3C.inject(request.headers)


async def _note_status(response: httpx.Response) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("http.response.status_code", response.status_code)
