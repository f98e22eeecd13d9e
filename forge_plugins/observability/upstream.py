"""Calls to upstreams over HTTP, observed: each carries the current trace context, is timed, and
gets a CLIENT span when spans are recorded.

Layer: plugin (observability), between the observer (whose `RequestRecord` says which MCP request
and tool an exchange serves) and the HTTP clients. `instrument` wraps what each client sends: an
aiohttp session gets a client middleware (the REST adapter's session, instrumented at start-up), an
httpx client event hooks (what federation may hand to `instrument_http_client`). The middleware is
one extra await per request: about a third of the CPU aiohttp's `trace_configs` took (they build
every signal's parameters, listened to or not). aiohttp runs middlewares once per hop, so a followed
redirect is one exchange per hop, each finished. An exchange that never gets an answer is ended,
failed, when its client says so (aiohttp: the middleware sees the exception, cancellation included)
or when its MCP request is answered (httpx, which has no hook for failures).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import aiohttp
import httpx
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from forge_plugins.observability.metrics import Metrics
from forge_plugins.observability.tracing import W3C, Carried, Tracing

EXTENSION = "forge.exchange"  # where an exchange rides on an httpx request


@dataclass(slots=True)
class RequestRecord:
    """The MCP request being served, as upstream calls made for it see it (shared with the tasks it
    spawns): the tool called (`name`, and `tool`, its metrics label), the exchanges in flight, and
    the trace context it carries when spans are not recorded."""

    name: str | None
    tool: str
    open: list = field(default_factory=list)
    carried: Carried | None = None


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

    def instrument(self, client, integration_type: str) -> bool:
        """Observe what `client` (an aiohttp session or an httpx client) sends; False for others."""
        if isinstance(client, aiohttp.ClientSession):
            add_aiohttp_middleware(client, self._aiohttp_middleware(integration_type))
        elif isinstance(client, httpx.AsyncClient):
            self._hook_httpx(client, integration_type)
        else:
            return False
        return True

    def _aiohttp_middleware(self, integration_type: str):
        async def observed(request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:
            url = request.url
            exchange = self.started(request.headers, request.method, url.host, url.port, integration_type)
            try:
                response = await handler(request)
            except BaseException:  # refused, timed out, cancelled: no answer
                self.answered(exchange, None)
                raise
            self.answered(exchange, response.status)
            return response

        return observed

    def _hook_httpx(self, client: httpx.AsyncClient, integration_type: str) -> None:
        async def started(request: httpx.Request) -> None:
            url = request.url
            port = url.port or (443 if url.scheme == "https" else 80)
            exchange = self.started(request.headers, request.method, url.host, port, integration_type)
            request.extensions[EXTENSION] = exchange

        async def answered(response: httpx.Response) -> None:
            self.answered(response.request.extensions.get(EXTENSION), response.status_code)

        hooks = client.event_hooks
        client.event_hooks = {
            "request": [*hooks["request"], started],
            "response": [*hooks["response"], answered],
        }

    # --- one exchange -----------------------------------------------------------------------------

    def started(self, headers, method: str, host: str | None, port: int | None, integration_type: str):
        """Send the trace context in `headers` (mutable) and start timing; answers the exchange, or
        None outside an MCP request (a tool tried from the admin UI), which is not timed."""
        record = current_request.get()
        span = None
        if self.tracing is None:
            pass
        elif not self.tracing.recording:
            if record is not None and record.carried is not None:
                record.carried.inject(headers)
        elif record is not None:
            span = self._span(method, host, port, record)
            W3C.inject(headers, context=trace.set_span_in_context(span))
        else:
            W3C.inject(headers)  # whatever span is current: code tracing a call of its own
        if record is None:
            return None
        exchange = Exchange(integration_type, record.tool, time.perf_counter(), span)
        record.open.append(exchange)
        return exchange

    def answered(self, exchange: Exchange | None, status: int | None) -> None:
        if exchange is None:
            return
        record = current_request.get()
        if record is not None and exchange in record.open:
            record.open.remove(exchange)
        self.finish(exchange, status)

    def finish(self, exchange: Exchange, status: int | None) -> None:
        """Record an exchange's end: its answer's status, or None when it got none."""
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

    def _span(self, method: str, host: str | None, port: int | None, record: RequestRecord) -> Span:
        attributes = {"http.request.method": method, "server.address": host or "", "server.port": port or 0}
        tool = self.gateway.catalog.all.tools.get(record.name) if record.name else None
        if tool is not None:
            attributes["gen_ai.tool.name"] = record.name
            if tool.get("url"):
                attributes["url.template"] = tool["url"]  # the template: no arguments in it
        return self.tracing.tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attributes)


def add_aiohttp_middleware(session: aiohttp.ClientSession, middleware) -> None:
    """Run `middleware` on every request `session` sends, inside the middlewares it has (the
    outbound guard's stays first). aiohttp takes middlewares only when a session is built and offers
    no public way to add one later, so this extends the tuple it reads on every request; an aiohttp
    that keeps them elsewhere fails here rather than leave the session silently unobserved."""
    if not hasattr(session, "_middlewares"):
        raise RuntimeError("this aiohttp keeps no _middlewares on its sessions: its calls cannot be observed")
    session._middlewares = (*session._middlewares, middleware)


def inject_trace_context(carrier) -> None:
    """Add the trace context of what is being served (`traceparent`, `tracestate`) to outgoing
    headers or a `_meta` dict: the current span's when spans are recorded, else the one the MCP
    request carries through."""
    if trace.get_current_span().get_span_context().is_valid:
        W3C.inject(carrier)
        return
    record = current_request.get()
    if record is not None and record.carried is not None:
        record.carried.inject(carrier)
