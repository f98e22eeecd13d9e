"""GET /metrics: the Prometheus exposition of one gateway (of all its workers in multiprocess mode).

Layer: plugin (observability), a Quart blueprint over `metrics`. It needs the "read" right, like
the management API's reads (a Prometheus scrape config can send Basic credentials or a bearer
token); OBSERVABILITY_METRICS_PUBLIC=true opens it. It is left out of /openapi.json, whose
documents are JSON: its answer is Prometheus' text format, for scrapers rather than API clients.
"""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import hide

from forge.api.guard import public, require


def metrics_blueprint(gateway, metrics, *, open_to_all: bool) -> Blueprint:
    blueprint = Blueprint("observability", __name__)

    async def get_metrics():
        """Prometheus metrics: MCP requests and their latency by method, tool, transport and
        outcome; upstream calls; open sessions; cache reads."""
        if not open_to_all:
            await require("read", "metrics")
        metrics.count_sessions(len(gateway.engine.sessions))
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    view = public(get_metrics) if open_to_all else get_metrics
    blueprint.add_url_rule("/metrics", "metrics", hide(view), methods=["GET"])
    return blueprint
