"""OpenTelemetry tracing of one gateway, and W3C trace context in and out.

Layer: plugin (observability), under `observer` (a SERVER span per MCP request) and `upstream`
(a CLIENT span per HTTP call to an upstream, whose `traceparent` it sends). Each gateway has its
own tracer provider, never the process-global one, so gateways side by side in one process
(tests) keep their spans apart.

Spans are recorded only when something takes them: the OTLP exporter, once
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, exporting in batches
from a thread of the SDK (OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose how many), or a
processor given to `add_span_processor` (tests use an in-memory one). Nothing leaves the process
otherwise, and Forge only carries the trace context through as text (`Carried`): a client's
`traceparent` goes on to the upstream untouched, as if Forge were not there, and a request that
brings none gets a fresh, unsampled one, so its log line and its upstream call share a trace id.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("forge.observability")

W3C = TraceContextTextMapPropagator()
TRACE_FIELDS = ("traceparent", "tracestate")
# W3C Trace Context, level 1: version-traceid-parentid-flags, later versions may add fields.
TRACEPARENT = re.compile(r"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*")


def otlp_endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class Tracing:
    """A gateway's tracer; `recording` says whether anything takes its spans."""

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
    def finish(span: Span, token, failure: str | None = None) -> None:
        """End a span started by `start` (with ERROR status when `failure` says why) and restore
        the context that was current before it."""
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end()
        otel_context.detach(token)

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes the OTLP batch, if any


def _client_carrier(params: Any, headers: Mapping[str, str] | None) -> Mapping | None:
    """Where a client put its trace context: `params._meta` (MCP's SEP-414, what the SDKs send)
    first, else the HTTP headers; None when it sent none."""
    meta = params.get("_meta") if type(params) is dict else None
    if type(meta) is dict and "traceparent" in meta:
        return meta
    if headers is not None and "traceparent" in headers:
        return headers
    return None


def client_context(params: Any, headers: Mapping[str, str] | None) -> Context | None:
    """The client's trace context as an OpenTelemetry context, None when it sent no valid one."""
    carrier = _client_carrier(params, headers)
    if carrier is None:
        return None
    fields = {name: carrier[name] for name in TRACE_FIELDS if isinstance(carrier.get(name), str)}
    context = W3C.extract(fields, context=Context())
    return context if trace.get_current_span(context).get_span_context().is_valid else None


class Carried(NamedTuple):
    """The trace context of a request Forge does not record: passed on as the client sent it."""

    traceparent: str
    tracestate: str | None
    trace_id: str
    span_id: str

    @classmethod
    def of_request(cls, params: Any, headers: Mapping[str, str] | None) -> Carried:
        carrier = _client_carrier(params, headers)
        if carrier is not None:
            carried = cls.parse(carrier.get("traceparent"), carrier.get("tracestate"))
            if carried is not None:
                return carried
        fresh = random.randbytes(24).hex()  # not secrets: trace ids need to be unique, not unguessable
        return cls(f"00-{fresh[:32]}-{fresh[32:]}-00", None, fresh[:32], fresh[32:])

    @classmethod
    def parse(cls, traceparent: Any, tracestate: Any) -> Carried | None:
        """A valid `traceparent` (the W3C rules OpenTelemetry's propagator applies), else None."""
        match = TRACEPARENT.fullmatch(traceparent) if isinstance(traceparent, str) else None
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest) or trace_id == "0" * 32 or span_id == "0" * 16:
            return None
        state = tracestate if isinstance(tracestate, str) and tracestate else None
        return cls(f"00-{trace_id}-{span_id}-{flags}", state, trace_id, span_id)

    def inject(self, carrier) -> None:
        carrier["traceparent"] = self.traceparent
        if self.tracestate is not None:
            carrier["tracestate"] = self.tracestate
