"""The metrics panel: calls, failure rate and latency per tool, as server-drawn SVG bar charts and a
paginated table.

Layer: plugin panels, over the store's flushed counters (`store.tool_metrics()`) and the gateway's
counters not yet flushed (`gateway.metrics.pending`), added together so a call shows at once.
"""

from __future__ import annotations

from urllib.parse import urlencode

from quart import url_for

from forge_plugins.admin_ui.charts import bar_chart
from forge_plugins.admin_ui.pages import fragment, require
from forge_plugins.admin_ui.panels import Panel
from forge_plugins.admin_ui.panels.listing import page_count, page_number, paginate
from forge_plugins.admin_ui.settings import settings_of

CHART_BARS = 15
CHARTS = (  # id, title, the row's value, its unit, decimals
    ("calls", "Calls per tool", "calls", "", 0),
    ("failures", "Failure rate per tool", "failure_rate", "%", 1),
    ("latency", "Average latency per tool", "avg_ms", " ms", 1),
)


async def tool_metrics(gateway) -> list[dict]:
    """One row per tool ever called: stored and pending counters added; most called first."""
    stored = {row["tool_id"]: row for row in await gateway.store.tool_metrics()}
    tools = gateway.catalog.tools_by_id
    rows = []
    for tool_id, tool in tools.items():
        flushed, pending = stored.get(tool_id), gateway.metrics.pending(tool_id)
        parts = [part for part in (flushed, pending) if part]
        if not parts:
            continue
        calls = sum(part["calls"] for part in parts)
        failures = sum(part["failures"] for part in parts)
        total_ms = sum(part["total_ms"] for part in parts)
        minimums = [part["min_ms"] for part in parts if part.get("min_ms") is not None]
        maximums = [part["max_ms"] for part in parts if part.get("max_ms") is not None]
        called = [part["last_called_at"] for part in parts if part.get("last_called_at") is not None]
        rows.append(
            {
                "tool_id": tool_id,
                "name": tool["name"],
                "calls": calls,
                "failures": failures,
                "failure_rate": failures / calls * 100 if calls else 0.0,
                "avg_ms": total_ms / calls if calls else 0.0,
                "min_ms": min(minimums, default=None),
                "max_ms": max(maximums, default=None),
                "last_called_at": max(called, default=None),
            }
        )
    rows.sort(key=lambda row: (-row["calls"], row["name"]))
    return rows


async def render(gateway, request) -> str:
    await require("read", "tools")
    rows = await tool_metrics(gateway)
    top = rows[:CHART_BARS]
    charts = [
        bar_chart(f"chart-{name}", title, [(r["name"], r[key]) for r in top], unit, digits=digits)
        for name, title, key, unit, digits in CHARTS
    ]
    size = settings_of(gateway).page_size
    number = min(page_number(request.args), page_count(len(rows), size))

    def link(to: int) -> str:
        return url_for("admin_ui.panel", panel_id="metrics") + "?" + urlencode({"page": to})

    calls = sum(r["calls"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    totals = {
        "tools": len(rows),
        "calls": calls,
        "failures": failures,
        "failure_rate": failures / calls * 100 if calls else 0.0,
        "avg_ms": sum(r["avg_ms"] * r["calls"] for r in rows) / calls if calls else 0.0,
    }
    listing = paginate(rows[(number - 1) * size : number * size], len(rows), number, size, link)
    return await fragment("metrics.html", charts=charts, totals=totals, listing=listing)


PANEL = Panel(id="metrics", title="Metrics", order=60, view=render)
