"""Forge plugin `limits`: rate limits, a concurrency cap per upstream, and JSON shape limits.

- Rate limits (the `limits` library), off until set: RATE_LIMIT_PER_PRINCIPAL counts every MCP
  request and management API request of one principal; RATE_LIMIT_PER_TOOL (and per-tool
  RATE_LIMIT_TOOLS) counts the tools/call of one tool, all principals together. Counters live in
  memory, or in Redis when CACHE_TYPE=redis (or RATE_LIMIT_STORAGE_URL names one), where every
  worker and replica counts together. Over a limit: JSON-RPC error -32010 with `data.retryAfter`
  on MCP (429 with Retry-After on /rpc), 429 with Retry-After on the management API.
- A bulkhead (UPSTREAM_MAX_CONCURRENT, UPSTREAM_QUEUE_SECONDS): calls in flight per upstream.
- Shape limits (MAX_JSON_DEPTH, MAX_STRING_CHARS) on every MCP message, whatever its transport,
  and on JSON bodies of the management API; the kernel already bounds body size (MAX_BODY_BYTES).

Hooks: `forge_settings_sections`, `forge_mcp_middleware`, `forge_blueprints` (a route-less
blueprint's `before_app_request`), `forge_startup` (opens the counters' storage and wraps the
tool adapters), `forge_shutdown`.
"""

from __future__ import annotations

import weakref

from forge.hookspecs import hookimpl
from forge_plugins.limits.api import limits_blueprint
from forge_plugins.limits.bulkhead import Bulkhead, cap_adapters
from forge_plugins.limits.middleware import RATE_LIMITED, LimitsMiddleware
from forge_plugins.limits.rate import RateLimits
from forge_plugins.limits.settings import LimitsSettings

__all__ = ["RATE_LIMITED", "bulkhead_of"]

_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _State:
    """What this plugin holds for one gateway."""

    def __init__(self, gateway):
        self.settings = settings = gateway.plugin_settings["LimitsSettings"]
        rates = RateLimits(gateway.settings, settings)
        self.rates = rates if rates.active else None
        self.bulkhead = (
            Bulkhead(settings.upstream_max_concurrent, settings.upstream_queue_seconds)
            if settings.upstream_max_concurrent
            else None
        )


def _state(gateway) -> _State:
    state = _states.get(gateway)
    if state is None:
        state = _states[gateway] = _State(gateway)
    return state


def bulkhead_of(gateway) -> Bulkhead | None:
    """This plugin's bulkhead for `gateway`, or None (not loaded, or UPSTREAM_MAX_CONCURRENT=0)."""
    state = _states.get(gateway)
    return state.bulkhead if state is not None else None


@hookimpl
def forge_settings_sections():
    return LimitsSettings


@hookimpl
def forge_mcp_middleware(gateway):
    state = _state(gateway)
    return LimitsMiddleware(gateway, state.settings, state.rates)


@hookimpl
def forge_blueprints(gateway):
    state = _state(gateway)
    return [limits_blueprint(state.settings, state.rates)]


@hookimpl
def forge_startup(gateway):
    state = _state(gateway)
    if state.bulkhead is not None:
        cap_adapters(gateway, state.bulkhead)
    if state.rates is not None:
        return state.rates.start()
    return None


@hookimpl
def forge_shutdown(gateway):
    state = _states.get(gateway)
    if state is not None and state.rates is not None:
        return state.rates.close()
    return None
