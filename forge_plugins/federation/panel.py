"""The admin UI's "Federation" panel: every gateway with its health, circuit and imported entities.

Layer: plugin UI, contributed through `forge_admin_panels`; the admin UI plugin renders the page
around the fragment answered here. Everything shown is escaped.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from forge.api.guard import require
from forge.contracts import AdminPanel
from forge_plugins.federation.importer import ALL

COLUMNS = (
    "Gateway",
    "Transport",
    "URL",
    "State",
    "Last seen",
    "Latency",
    "Circuit",
    "Protocol",
    "Imported",
    "Last error",
)


def panel(federation) -> AdminPanel:
    async def render(gateway, request) -> str:
        await require("read", "gateways")
        return await fragment(federation)

    return AdminPanel("federation", "Federation", render, order=55)


async def fragment(federation) -> str:
    store = federation.gateway.store
    records, _ = await store.list("gateways", offset=0, limit=ALL)
    counts: dict[str, Counter] = {}
    for kind in ("tools", "prompts", "resources"):
        rows, _ = await store.list(kind, offset=0, limit=ALL)
        for row in rows:
            if row.get("gateway_id"):
                counts.setdefault(row["gateway_id"], Counter())[kind] += 1
    intro = (
        f"<p>This gateway is <code>{escape(federation.instance_id)}</code> to its peers. Health is checked every "
        f"{federation.settings.health_interval:g} s; catalogs are re-imported every "
        f"{federation.gateway.settings.federation_sync_interval} s and whenever an upstream announces a change.</p>"
    )
    if not records:
        return (
            intro
            + "<p>No gateways yet: add one under Gateways, with POST /gateways, or with FEDERATION_PEERS.</p>"
        )
    head = "".join(f'<th scope="col">{escape(column)}</th>' for column in COLUMNS)
    body = "".join(
        _row(record, federation.upstreams.get(record["id"]), counts.get(record["id"], Counter()))
        for record in records
    )
    return f'{intro}<table class="federation"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _row(record: dict, upstream, counts: Counter) -> str:
    seen = record.get("last_seen")
    latency = record.get("latency_ms")
    state = record.get("state") or "unknown"
    if not record.get("enabled"):
        state = "disabled"
    protocol = (record.get("capabilities") or {}).get("protocolVersion") or ""
    imported = (
        ", ".join(f"{counts[kind]} {kind}" for kind in ("tools", "prompts", "resources") if counts[kind])
        or "none"
    )
    cells = (
        record["name"],
        record.get("transport") or "",
        record.get("url") or "",
        state,
        seen.strftime("%Y-%m-%d %H:%M:%S UTC") if seen else "never",
        f"{latency:g} ms" if latency is not None else "",
        upstream.breaker.state if upstream is not None else "",
        protocol,
        imported,
        record.get("last_error") or "",
    )
    tds = "".join(f"<td>{escape(str(cell))}</td>" for cell in cells)
    return f'<tr data-state="{escape(state)}">{tds}</tr>'
