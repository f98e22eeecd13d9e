"""The overview panel: how much is in the catalog, whether the gateway is healthy, and the tools
called most recently.

Layer: plugin panels, over the store (counts are `COUNT` queries, not lists), the gateway's
running state and the metrics panel's merged counters.
"""

from __future__ import annotations

import logging

from forge import __version__
from forge.plugins import describe_plugins
from forge_plugins.admin_ui.pages import fragment
from forge_plugins.admin_ui.panels import Panel
from forge_plugins.admin_ui.panels.metrics import tool_metrics

log = logging.getLogger("forge.admin_ui")
KINDS = (
    ("tools", "Tools"),
    ("resources", "Resources"),
    ("prompts", "Prompts"),
    ("servers", "Virtual servers"),
    ("gateways", "Gateways"),
)
RECENT = 10


async def render(gateway, request) -> str:
    store = gateway.store
    counts = []
    for kind, title in KINDS:
        _, total = await store.list(kind, limit=1)
        _, enabled = await store.list(kind, limit=1, filters={"enabled": True})
        counts.append({"kind": kind, "title": title, "total": total, "enabled": enabled})
    try:
        await store.ping()
        database = "ok"
    except Exception as error:  # what /ready reports as unreachable
        log.warning("overview: database check failed: %r", error)
        database = "unreachable"
    metrics = await tool_metrics(gateway)
    recent = sorted(
        (r for r in metrics if r["last_called_at"]), key=lambda r: r["last_called_at"], reverse=True
    )
    calls = sum(r["calls"] for r in metrics)
    failures = sum(r["failures"] for r in metrics)
    health = {
        "database": database,
        "started": gateway.started,
        "sessions": len(gateway.engine.sessions),
        "transports": sorted(gateway.transports),
        "adapters": sorted(gateway.adapters),
        "plugins": len(describe_plugins(gateway.pm)),
        "version": __version__,
        "auth_required": gateway.settings.auth_required,
    }
    summary = {"calls": calls, "failures": failures, "failure_rate": failures / calls * 100 if calls else 0.0}
    return await fragment(
        "overview.html", counts=counts, health=health, recent=recent[:RECENT], summary=summary
    )


PANEL = Panel(id="overview", title="Overview", order=0, view=render)
