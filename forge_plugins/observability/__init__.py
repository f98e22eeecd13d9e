"""Forge plugin `observability`: Prometheus metrics, OpenTelemetry traces and an access log of
every MCP request, on every transport.

- `/metrics` (OBSERVABILITY_METRICS): `forge_mcp_requests_total` and
  `forge_mcp_request_duration_seconds` by method, tool, transport and outcome (ok, error,
  tool_error, cancelled), `forge_upstream_request_duration_seconds`, `forge_mcp_sessions_open`,
  `forge_cache_reads_total`. Set PROMETHEUS_MULTIPROC_DIR for several workers.
- Traces (OBSERVABILITY_TRACING): the client's W3C trace context (`params._meta.traceparent`
  or the `traceparent` header) is continued and sent on to HTTP upstreams. Spans are recorded
  only when OTEL_EXPORTER_OTLP_ENDPOINT is set, and then exported over OTLP/HTTP: a SERVER span
  per MCP request, a CLIENT span per upstream HTTP call. Nothing is sent anywhere otherwise.
- Access log (OBSERVABILITY_ACCESS_LOG=true): one INFO line per request on logger `forge.access`, with
  request id, trace id, principal, method, tool, latency and outcome (as JSON fields with
  LOG_FORMAT=json); arguments only with OBSERVABILITY_LOG_ARGUMENTS=true.

Hooks: `forge_mcp_middleware` (the observer), `forge_blueprints` (/metrics),
`forge_startup`/`forge_shutdown`, `forge_settings_sections`. Upstream calls are seen through the
tracing API of the REST adapter's aiohttp session, so tool calls cost no extra hook. Code calling
an upstream itself (federation) hands its HTTP client to `instrument_http_client`, or wraps a call
in `upstream_span`, and puts `inject_trace_context` in what it sends (the MCP SDK's client does
that itself for the current span when spans are recorded).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

from opentelemetry.trace import Span

from forge.hookspecs import hookimpl
from forge_plugins.observability.blueprint import metrics_blueprint
from forge_plugins.observability.observer import Observer
from forge_plugins.observability.settings import ObservabilitySettings
from forge_plugins.observability.upstream import inject_trace_context

__all__ = ["inject_trace_context", "instrument_http_client", "observer_of", "upstream_span"]

_observers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def observer_of(gateway) -> Observer | None:
    """This plugin's observer of `gateway`, or None when the plugin is not loaded there."""
    return _observers.get(gateway)


def _observer(gateway) -> Observer:
    observer = _observers.get(gateway)
    if observer is None:
        observer = _observers[gateway] = Observer(gateway, gateway.plugin_settings["ObservabilitySettings"])
    return observer


@contextlib.contextmanager
def upstream_span(gateway, name: str, **attributes) -> Iterator[Span | None]:
    """A CLIENT span around one call to an upstream, current while the block runs, so a client
    passed to `instrument_http_client`, or the MCP SDK's client, carries its `traceparent`.
    Yields None and does nothing when no span is recorded for `gateway` (this plugin not loaded,
    OBSERVABILITY_TRACING=false, or no exporter configured: the request's trace context is current
    anyway). An exception marks the span failed and propagates.

        with upstream_span(gateway, "prompts/get greet", **{"server.address": host}):
            result = await session.get_prompt(...)
    """
    observer = _observers.get(gateway)
    if observer is None:
        yield None
        return
    with observer.upstream_span(name, attributes) as span:
        yield span


def instrument_http_client(gateway, client, integration_type: str = "MCP") -> None:
    """Observe the calls `client` (an `httpx.AsyncClient` or an `aiohttp.ClientSession`) makes to
    upstreams for `gateway`: each carries the current trace context (`traceparent`), is timed in
    `forge_upstream_request_duration_seconds` and gets a CLIENT span when spans are recorded. Does
    nothing when this plugin is not loaded there."""
    observer = _observers.get(gateway)
    if observer is not None and observer.active:
        observer.upstreams.instrument(client, integration_type)


@hookimpl
def forge_settings_sections():
    return ObservabilitySettings


@hookimpl
def forge_mcp_middleware(gateway):
    observer = _observer(gateway)
    return observer if observer.active else None


@hookimpl
def forge_blueprints(gateway):
    observer = _observer(gateway)
    if observer.metrics is None:
        return None
    return [metrics_blueprint(gateway, observer.metrics, open_to_all=observer.settings.metrics_public)]


@hookimpl
def forge_startup(gateway):
    return _observer(gateway).start()


@hookimpl
def forge_shutdown(gateway):
    return _observer(gateway).stop()
