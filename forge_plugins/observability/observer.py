"""The observer: what the observability plugin does around each MCP request.

Layer: plugin (observability), over `metrics`, `tracing` and `upstream`. One `Observer` per
gateway, made when the gateway is configured (metrics only: no I/O then) and started with it (the
tracer, the REST adapter's client, cache counting). It is the gateway's `forge_mcp_middleware`:
per request it takes the client's trace context and X-Request-ID and makes them current (opening
a SERVER span when spans are recorded, else carrying the context through as text), tells upstream
calls which tool they serve, and once the answer is out records the request's counter and latency
and writes one access log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.trace import Span, SpanKind

from forge import __version__
from forge.logs import request_id
from forge.mcp.methods import HANDSHAKE_METHODS, MODERN_METHODS
from forge_plugins.observability.metrics import CacheReads, Metrics
from forge_plugins.observability.settings import ObservabilitySettings
from forge_plugins.observability.tracing import Carried, Tracing, client_context
from forge_plugins.observability.upstream import HttpUpstreams, RequestRecord, current_request

access_log = logging.getLogger("forge.access")
# Label values come from this set only: a client inventing method names cannot grow the metrics.
KNOWN_METHODS = frozenset(HANDSHAKE_METHODS) | frozenset(MODERN_METHODS)
MAX_NAME = 128  # of a client-sent tool name in a span name or log line


class Observer:
    def __init__(self, gateway, settings: ObservabilitySettings):
        self.gateway = gateway
        self.settings = settings
        self.metrics = Metrics() if settings.metrics else None
        self.tracing: Tracing | None = None
        self.upstreams = HttpUpstreams(gateway, self.metrics, None)
        self._cache_reads: CacheReads | None = None

    @property
    def active(self) -> bool:
        return self.settings.metrics or self.settings.tracing or self.settings.access_log

    async def start(self) -> None:
        if self.settings.tracing:
            self.tracing = self.upstreams.tracing = Tracing(self.gateway.settings.app_name, __version__)
        if self.metrics is not None or self.tracing is not None:
            for integration_type, adapter in self.gateway.adapters.items():
                client = getattr(adapter, "client", None)  # the REST adapter's, and any like it
                if client is not None:
                    self.upstreams.instrument(client, integration_type)
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
        name = params.get("name") if method == "tools/call" and type(params) is dict else None
        name = name[:MAX_NAME] if isinstance(name, str) else None
        record = RequestRecord(name, name if name in self.gateway.catalog.all.tools else "")
        id_token, record_token = request_id.set(_request_id(connection.headers)), current_request.set(record)
        span = span_token = None
        if self.tracing is not None:
            if self.tracing.recording:
                span, span_token = self._request_span(method, name, message["id"], params, connection)
            else:
                record.carried = Carried.of_request(params, connection.headers)
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
            for exchange in record.open:  # no answer came back: a timeout, a refused connection
                self.upstreams.finish(exchange, None)
            if self.metrics is not None:
                label = method if method in KNOWN_METHODS else "other"
                self.metrics.observe_request((label, record.tool, connection.transport, outcome), elapsed)
                self.metrics.count_sessions(len(self.gateway.engine.sessions))
            if span is not None:
                if code is not None:
                    span.set_attribute("rpc.jsonrpc.error_code", code)
                Tracing.finish(span, span_token, outcome if outcome != "ok" else None)
            if self.settings.access_log and access_log.isEnabledFor(logging.INFO):
                self._log(method, name, params, connection, span or record.carried, elapsed, outcome, code)
            current_request.reset(record_token)
            request_id.reset(id_token)

    def _request_span(
        self, method: str, name: str | None, message_id, params, connection
    ) -> tuple[Span, object]:
        parent = client_context(params, connection.headers)
        attributes = {
            "mcp.method.name": method,
            "jsonrpc.request.id": str(message_id),
            "forge.transport": connection.transport,
            "enduser.id": connection.principal.name,
        }
        if name is not None:
            attributes["gen_ai.tool.name"] = name
        return self.tracing.start(f"{method} {name}" if name else method, SpanKind.SERVER, attributes, parent)

    def _log(self, method, name, params, connection, trace, elapsed, outcome, code) -> None:
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
        if isinstance(trace, Carried):
            fields["trace_id"], fields["span_id"] = trace.trace_id, trace.span_id
        elif trace is not None:
            context = trace.get_span_context()
            fields["trace_id"], fields["span_id"] = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        if self.settings.log_arguments and isinstance(params, dict) and "arguments" in params:
            fields["arguments"] = params["arguments"]
        target = f"{method} {name}" if name else method
        # makeRecord + handle: what `info` does, less its search of the stack for the caller's line.
        message, args = (
            "%s by %s: %s in %.2f ms",
            (target, connection.principal.name, outcome, elapsed * 1000),
        )
        record = access_log.makeRecord(
            access_log.name, logging.INFO, __file__, 0, message, args, None, extra={"fields": fields}
        )
        access_log.handle(record)

    # --- for code calling upstreams itself (federation) -------------------------------------------

    @contextlib.contextmanager
    def upstream_span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Span | None]:
        if self.tracing is None or not self.tracing.recording:
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
    """The client's X-Request-ID when it is a sane one; else a fresh one (not a secret: cheap)."""
    incoming = headers.get("x-request-id") if headers is not None else None
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return random.randbytes(8).hex()
