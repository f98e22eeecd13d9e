"""The observer: what the observability plugin does around each MCP request and upstream call.

Layer: plugin (observability), over `metrics` and `tracing`. One `Observer` per gateway, made
when the gateway is configured (metrics only: no I/O then) and started with it (the tracer, the
REST client's trace headers, cache counting). It is the gateway's `forge_mcp_middleware`: per
request it takes the client's trace context and X-Request-ID, opens a SERVER span, and when the
answer is out records the request's counter and latency and writes one access log line. The
tool-call hooks call `upstream_started`/`upstream_finished` around each adapter call, which opens
a CLIENT span and times the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.trace import Span, SpanKind

from forge import __version__
from forge.logs import request_id
from forge.mcp.methods import HANDSHAKE_METHODS, MODERN_METHODS
from forge_plugins.observability.metrics import CacheReads, Metrics
from forge_plugins.observability.settings import ObservabilitySettings
from forge_plugins.observability.tracing import Tracing, client_context, instrument_http_client

access_log = logging.getLogger("forge.access")
# Label values come from this set only: a client inventing method names cannot grow the metrics.
KNOWN_METHODS = frozenset(HANDSHAKE_METHODS) | frozenset(MODERN_METHODS)
MAX_NAME = 128  # of a client-sent tool name in a span name or log line


@dataclass(slots=True)
class UpstreamCall:
    integration_type: str
    tool: str
    started: float
    span: Span | None = None
    span_token: object = None
    var_token: object = None


@dataclass(slots=True)
class RequestRecord:
    """Shared with the tasks a request spawns, so the middleware can end an upstream span that an
    adapter's exception left open."""

    upstream: UpstreamCall | None = None


_request: ContextVar[RequestRecord | None] = ContextVar("forge_observed_request", default=None)
_upstream: ContextVar[UpstreamCall | None] = ContextVar("forge_observed_upstream", default=None)


class Observer:
    def __init__(self, gateway, settings: ObservabilitySettings):
        self.gateway = gateway
        self.settings = settings
        self.metrics = Metrics() if settings.metrics else None
        self.tracing: Tracing | None = None
        self.log_requests = settings.access_log
        self._cache_reads: CacheReads | None = None

    @property
    def active(self) -> bool:
        return self.settings.metrics or self.settings.tracing or self.settings.access_log

    async def start(self) -> None:
        if self.settings.tracing:
            self.tracing = Tracing(self.gateway.settings.app_name, __version__)
            for adapter in self.gateway.adapters.values():
                client = getattr(adapter, "client", None)  # the REST adapter's, and any like it
                if isinstance(client, httpx.AsyncClient):
                    instrument_http_client(client)
        cache = self.gateway.cache
        if self.metrics is not None and isinstance(getattr(cache, "plugins", None), list):
            self._cache_reads = CacheReads(self.metrics)
            cache.plugins = [*cache.plugins, self._cache_reads]

    async def stop(self) -> None:
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # may flush spans over the network
        if self._cache_reads is not None:
            self.gateway.cache.plugins = [p for p in self.gateway.cache.plugins if p is not self._cache_reads]
        if self.metrics is not None:
            self.metrics.close()

    # --- every MCP request ------------------------------------------------------------------------

    async def __call__(self, message, connection, call_next):
        method = message.get("method") if type(message) is dict else None
        if not isinstance(method, str) or "id" not in message:
            return await call_next(message, connection)  # notifications, responses, broken envelopes
        started = time.perf_counter()
        params = message.get("params")
        name = params.get("name") if method == "tools/call" and isinstance(params, dict) else None
        name = name[:MAX_NAME] if isinstance(name, str) else None
        id_token = request_id.set(_request_id(connection.headers))
        record = RequestRecord()
        record_token = _request.set(record)
        span = span_token = None
        if self.tracing is not None:
            attributes = {
                "mcp.method.name": method,
                "jsonrpc.request.id": str(message["id"]),
                "forge.transport": connection.transport,
                "enduser.id": connection.principal.name,
            }
            if name is not None:
                attributes["gen_ai.tool.name"] = name
            parent = client_context(params, connection.headers)
            span, span_token = self.tracing.start(
                f"{method} {name}" if name else method, SpanKind.SERVER, attributes, parent
            )
        outcome, code = "cancelled", None
        try:
            answer = await call_next(message, connection)
            outcome, code = outcome_of(answer)
            return answer
        except Exception:
            outcome = "internal"
            raise
        finally:
            elapsed = time.perf_counter() - started
            if record.upstream is not None:  # an adapter raised: its span never ended
                self._close_upstream(record.upstream, "error", detach=False)
            if self.metrics is not None:
                tool = name if name is not None and name in self.gateway.catalog.all.tools else ""
                label = method if method in KNOWN_METHODS else "other"
                self.metrics.observe_request((label, tool, connection.transport, outcome), elapsed)
                self.metrics.count_sessions(len(self.gateway.engine.sessions))
            if span is not None:
                if code is not None:
                    span.set_attribute("rpc.jsonrpc.error_code", code)
                Tracing.finish(span, span_token, outcome if outcome != "ok" else None)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                self._log(method, name, params, connection, span, elapsed, outcome, code)
            _request.reset(record_token)
            request_id.reset(id_token)

    def _log(self, method, name, params, connection, span, elapsed, outcome, code) -> None:
        fields: dict[str, Any] = {
            "method": method,
            "tool": name,
            "principal": connection.principal.name,
            "transport": connection.transport,
            "server_id": connection.server_id,
            "latency_ms": round(elapsed * 1000, 3),
            "outcome": outcome,
        }
        if code is not None:
            fields["error_code"] = code
        if span is not None:
            context = span.get_span_context()
            fields["trace_id"], fields["span_id"] = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        if self.settings.log_arguments and isinstance(params, dict) and "arguments" in params:
            fields["arguments"] = params["arguments"]
        target = f"{method} {name}" if name else method
        access_log.info("%s: %s in %.2f ms", target, outcome, elapsed * 1000, extra={"fields": fields})

    # --- every upstream call (the tool-call hooks) ------------------------------------------------

    def upstream_started(self, call) -> None:
        kind = (call.tool.get("integration_type") or "REST").upper()
        upstream = UpstreamCall(kind, call.name, time.perf_counter())
        if self.tracing is not None:
            attributes = {"gen_ai.tool.name": call.name, "forge.integration_type": kind}
            if kind == "REST":
                attributes["http.request.method"] = (call.tool.get("method") or "POST").upper()
                attributes["url.template"] = call.tool.get("url") or ""  # the template: no arguments in it
            upstream.span, upstream.span_token = self.tracing.start(
                f"{kind} {call.name}", SpanKind.CLIENT, attributes
            )
        upstream.var_token = _upstream.set(upstream)
        record = _request.get()
        if record is not None:
            record.upstream = upstream

    def upstream_finished(self, result: Mapping[str, Any]) -> None:
        upstream = _upstream.get()
        if upstream is None:
            return
        _upstream.reset(upstream.var_token)
        record = _request.get()
        if record is not None and record.upstream is upstream:
            record.upstream = None
        self._close_upstream(upstream, "error" if result.get("isError") else "ok")

    def _close_upstream(self, upstream: UpstreamCall, outcome: str, *, detach: bool = True) -> None:
        if self.metrics is not None:
            self.metrics.observe_upstream(
                (upstream.integration_type, upstream.tool, outcome), time.perf_counter() - upstream.started
            )
        if upstream.span is not None:
            if detach:
                Tracing.finish(
                    upstream.span, upstream.span_token, None if outcome == "ok" else "upstream error"
                )
            else:  # another task's context holds it, and ends with that task
                Tracing.finish(upstream.span, None, "the adapter raised")

    # --- for code calling upstreams itself (federation) -------------------------------------------

    @contextlib.contextmanager
    def upstream_span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Span | None]:
        if self.tracing is None:
            yield None
            return
        span, token = self.tracing.start(name, SpanKind.CLIENT, dict(attributes))
        failure = None
        try:
            yield span
        except BaseException as error:
            failure = type(error).__name__
            raise
        finally:
            Tracing.finish(span, token, failure)


def outcome_of(answer) -> tuple[str, int | None]:
    """ok, error (a JSON-RPC error answer, with its code) or tool_error (a result with isError)."""
    if type(answer) is not dict:
        return "ok", None  # a notification's None, or a subscription stream
    error = answer.get("error")
    if error is not None:
        return "error", error.get("code") if isinstance(error, dict) else None
    result = answer.get("result")
    if type(result) is dict and result.get("isError") is True:
        return "tool_error", None
    return "ok", None


def _request_id(headers: Mapping[str, str] | None) -> str:
    incoming = headers.get("x-request-id") if headers is not None else None
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return secrets.token_hex(8)
