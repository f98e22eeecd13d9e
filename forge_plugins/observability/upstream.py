"""Calls to upstreams over HTTP, observed: each carries the current trace context, is timed, and
gets a CLIENT span when spans are recorded.

Layer: plugin (observability), between the observer (whose `RequestRecord` says which MCP request
and tool an exchange serves) and httpx. It uses httpx's public event hooks: `instrument` adds one
before each request and one after each response of a client; the observer instruments the REST
adapter's client at start-up, and federation can hand its own (`instrument_http_client`). An
exchange that never gets a response (a timeout, a refused connection) is ended, failed, by the
observer when its MCP request is answered.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpx
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from forge_plugins.observability.metrics import Metrics
from forge_plugins.observability.tracing import W3C, Tracing

EXTENSION = "forge.exchange"  # where an exchange rides on its httpx request


@dataclass(slots=True)
class RequestRecord:
    """The MCP request being served, as upstream calls made for it see it (shared with the tasks it
    spawns): the tool called (`name`, and `tool`, its metrics label) and the exchanges in flight."""

    name: str | None
    tool: str
    open: list = field(default_factory=list)


current_request: ContextVar[RequestRecord | None] = ContextVar("forge_observed_request", default=None)


@dataclass(slots=True)
class Exchange:
    integration_type: str
    tool: str
    started: float
    span: Span | None


class HttpUpstreams:
    def __init__(self, gateway, metrics: Metrics | None, tracing: Tracing | None):
        self.gateway = gateway
        self.metrics = metrics
        self.tracing = tracing

    def instrument(self, client: httpx.AsyncClient, integration_type: str) -> None:
        async def before(request: httpx.Request) -> None:
            self.started(request, integration_type)

        async def after(response: httpx.Response) -> None:
            self.answered(response)

        hooks = client.event_hooks
        client.event_hooks = {"request": [*hooks["request"], before], "response": [*hooks["response"], after]}

    def started(self, request: httpx.Request, integration_type: str) -> None:
        record = current_request.get()
        span = None
        if self.tracing is not None:
            if self.tracing.recording and record is not None:
                span = self._span(request, record)
                W3C.inject(request.headers, context=trace.set_span_in_context(span))
            else:
                W3C.inject(request.headers)  # the request's context, as the client sent it or fresh
        if record is None:  # not serving an MCP request (a tool tried from the admin UI)
            return
        exchange = Exchange(integration_type, record.tool, time.perf_counter(), span)
        request.extensions[EXTENSION] = exchange
        record.open.append(exchange)

    def answered(self, response: httpx.Response) -> None:
        exchange = response.request.extensions.get(EXTENSION)
        if exchange is None:
            return
        record = current_request.get()
        if record is not None and exchange in record.open:
            record.open.remove(exchange)
        self.finish(exchange, response.status_code)

    def finish(self, exchange: Exchange, status: int | None) -> None:
        """Record an exchange's end: its answer's status, or None when it never got one."""
        failed = status is None or status >= 400
        if self.metrics is not None:
            labels = (exchange.integration_type, exchange.tool, "error" if failed else "ok")
            self.metrics.observe_upstream(labels, time.perf_counter() - exchange.started)
        span = exchange.span
        if span is not None:
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if failed:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}" if status else "no answer"))
            span.end()

    def _span(self, request: httpx.Request, record: RequestRecord) -> Span:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        attributes = {"http.request.method": request.method, "server.address": url.host, "server.port": port}
        tool = self.gateway.catalog.all.tools.get(record.name) if record.name else None
        if tool is not None:
            attributes["gen_ai.tool.name"] = record.name
            if tool.get("url"):
                attributes["url.template"] = tool["url"]  # the template: no arguments in it
        return self.tracing.tracer.start_span(request.method, kind=SpanKind.CLIENT, attributes=attributes)
