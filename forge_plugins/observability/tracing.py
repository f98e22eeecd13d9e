"""OpenTelemetry tracing of one gateway: its tracer provider, and W3C trace context in and out.

Layer: plugin (observability). `observer` makes a span current per MCP request (continuing the
client's `traceparent`), `upstream` one per HTTP call to an upstream, whose `traceparent` it sends.
Each gateway has its own tracer provider, never the process-global one, so gateways
side by side in one process (tests) keep their spans apart. The OpenTelemetry context itself is
process-wide, so the MCP SDK's client (federation) sends Forge's current span as
`_meta.traceparent` on its own.

Nothing leaves the process unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
is set: then spans are recorded and exported over OTLP/HTTP in batches, from a thread of the SDK
(OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose how many).
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("forge.observability")

W3C = TraceContextTextMapPropagator()
TRACE_FIELDS = ("traceparent", "tracestate")


def otlp_endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class Tracing:
    """A gateway's tracer. Spans are recorded only once something takes them: the OTLP exporter
    when an endpoint is configured, or a processor given to `add_span_processor` (tests use an
    in-memory one). Until then Forge only carries trace context, which costs next to nothing: a
    client's context goes on to the upstream untouched, as if Forge were not there, and a request
    that brings none gets a fresh (unsampled) trace id, so its log line and its upstream call still
    share one."""

    def __init__(self, service_name: str, version: str):
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": name, "service.version": version})
        )
        self.tracer = self.provider.get_tracer("forge", version)
        self.recording = False
        if otlp_endpoint_configured():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # The exporter reads the endpoint, headers, certificates and timeout from OTEL_* itself.
            self.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            log.info("OpenTelemetry: exporting spans over OTLP/HTTP")

    def add_span_processor(self, processor: SpanProcessor) -> None:
        self.provider.add_span_processor(processor)
        self.recording = True

    def start(
        self, name: str, kind: SpanKind, attributes: dict, parent: Context | None = None
    ) -> tuple[Span, object]:
        """Start a recorded span and make it current; answers it and the token `finish` needs."""
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    @staticmethod
    def carry(parent: Context | None) -> tuple[Span, object]:
        """Without recording: make the client's span current (`parent`), or a fresh unsampled one."""
        if parent is not None:
            span = trace.get_current_span(parent)
        else:
            trace_id = random.getrandbits(128) or 1
            span = NonRecordingSpan(SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False))
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


def inject_trace_context(carrier: dict) -> None:
    """Add the current span's `traceparent` (and `tracestate`) to outgoing headers or a `_meta`."""
    W3C.inject(carrier)
