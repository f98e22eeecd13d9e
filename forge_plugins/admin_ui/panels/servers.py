"""The virtual servers panel: a server's members picked from the catalog, its endpoint URLs (one
per installed transport), and a ready-made client configuration for `forge-stdio`.

Layer: plugin panels, over `panels.entities`. Picking stays usable with 10,000 tools: a kind with
more entities than `PICK_LIMIT` lists only the server's current members as checkboxes and takes
further ones by name.
"""

from __future__ import annotations

import json
import re

from quart import request

from forge.store.repository import NotFound
from forge_plugins.admin_ui.forms import FormErrors, FormField
from forge_plugins.admin_ui.pages import gateway, is_https, page_of, require
from forge_plugins.admin_ui.panels import Route
from forge_plugins.admin_ui.panels.entities import DESCRIPTION, NAME, EntityPages
from forge_plugins.admin_ui.panels.listing import Action, Column

MEMBER_KINDS = ("tools", "resources", "prompts")
PICK_LIMIT = 200


def _key(kind: str) -> str:
    return f"{kind[:-1]}_ids"


def _label(kind: str, entity: dict) -> str:
    return entity["uri"] if kind == "resources" else entity["name"]


def _names(text: str) -> list[str]:
    return [name for name in (part.strip() for part in re.split(r"[\n,]", text or "")) if name]


async def _resolve(kind: str, names: list[str]) -> tuple[list[str], list[str]]:
    """Ids of the entities with these names (URIs for resources), and the names nobody has."""
    store, key = gateway().store, "uri" if kind == "resources" else "name"
    found, missing = [], []
    for name in names:
        candidates, _ = await store.list(kind, limit=50, search=name)
        match = next((c for c in candidates if c[key] == name), None)
        (found if match else missing).append(match["id"] if match else name)
    return found, missing


async def _members(gateway, payload: dict, form, before: dict | None) -> dict:
    errors = {}
    for kind in MEMBER_KINDS:
        ids = list(dict.fromkeys(form.getlist(_key(kind))))
        found, missing = await _resolve(kind, _names(form.get(f"{kind}_names", "")))
        if missing:
            errors[_key(kind)] = f"no {kind} named: {', '.join(missing)}"
        payload[_key(kind)] = list(dict.fromkeys(ids + found))
    if errors:
        raise FormErrors(errors)
    return payload


async def _pickers(gateway, entity: dict | None, form) -> dict:
    store = gateway.store
    pickers = []
    for kind in MEMBER_KINDS:
        key = _key(kind)
        selected = set(form.getlist(key) if form is not None else (entity or {}).get(key, ()))
        listed, total = await store.list(kind, limit=PICK_LIMIT)
        if total > PICK_LIMIT:  # too many to list: the members, then names typed in
            listed = []
            for entity_id in sorted(selected):
                try:
                    listed.append(await store.get(kind, entity_id))
                except NotFound:
                    continue
        options = [(item["id"], _label(kind, item), item["id"] in selected) for item in listed]
        pickers.append(
            {
                "kind": kind,
                "key": key,
                "options": options,
                "total": total,
                "all_listed": total <= PICK_LIMIT,
                "names": form.get(f"{kind}_names", "") if form is not None else "",
            }
        )
    return {"pickers": pickers}


# What the kernel's and transport plugins' per-server routes are for; others show their route name.
ROUTE_LABELS = {
    "server_mcp": "Streamable HTTP: MCP clients",
    "server_rpc": "Plain JSON-RPC: curl and scripts",
    "server_sse": "HTTP+SSE: 2024-11-05 clients",
    "server_ws": "WebSocket (subprotocol mcp)",
}


def endpoints(server_id: str) -> list[tuple[str, str]]:
    """(what it is, URL) of every transport route serving one virtual server, /mcp first. An SSE
    message route is left out: clients learn it from the stream."""
    secure = is_https() or request.scheme == "https"
    found = []
    for name, transport in gateway().transports.items():
        for route in transport.routes:
            if "{server_id}" not in route.path or route.name.endswith("_message"):
                continue
            scheme = ("wss" if secure else "ws") if name == "websocket" else ("https" if secure else "http")
            url = (
                f"{scheme}://{request.host}{request.root_path}{route.path.replace('{server_id}', server_id)}"
            )
            found.append((ROUTE_LABELS.get(route.name, f"{name}: {route.name}"), url))
    return sorted(found, key=lambda pair: (not pair[1].endswith("/mcp"), pair[0]))


def client_config(server: dict, endpoint: str, auth_required: bool) -> str:
    """The `mcpServers` entry a desktop client needs to reach this server through `forge-stdio`."""
    entry = {"command": "forge-stdio", "args": ["--url", endpoint]}
    if auth_required:
        entry["env"] = {"FORGE_TOKEN": f"<forge token --scope server:{server['id']}>"}
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", server["name"]).strip("-").lower() or "forge"
    return json.dumps({"mcpServers": {slug: entry}}, indent=2)


async def detail(entity_id: str):
    await require("read", "servers")
    gw = gateway()
    server = await gw.store.get("servers", entity_id)
    found = endpoints(entity_id)
    endpoint = found[0][1] if found else None
    members = {}
    for kind in MEMBER_KINDS:
        listed = []
        for member_id in server[_key(kind)][:PICK_LIMIT]:
            try:
                listed.append(_label(kind, await gw.store.get(kind, member_id)))
            except NotFound:
                continue
        members[kind] = (sorted(listed), len(server[_key(kind)]))
    config = client_config(server, endpoint, gw.settings.auth_required) if endpoint else None
    return await page_of(
        "servers",
        server["name"],
        "server_detail.html",
        server=server,
        endpoints=found,
        endpoint=endpoint,
        config=config,
        members=members,
    )


PANEL = EntityPages(
    id="servers",
    title="Virtual servers",
    singular="virtual server",
    order=40,
    intro="Named selections of tools, resources and prompts, each with its own MCP endpoint.",
    fields=(
        NAME,
        DESCRIPTION,
        FormField("icon", "Icon URL (optional)", "url"),
        FormField("enabled", "Enabled: its endpoints answer", "checkbox"),
    ),
    columns=(
        Column("Name", "name", "link"),
        Column("Description", "description"),
        Column(
            "Members",
            lambda s: (
                f"{len(s['tool_ids'])} tools, {len(s['resource_ids'])} resources, "
                f"{len(s['prompt_ids'])} prompts"
            ),
        ),
    ),
    defaults={"enabled": True},
    actions=(Action("Endpoint", "admin_ui.servers_detail"),),
    adjust=_members,
    extra_context=_pickers,
    saved_endpoint="admin_ui.servers_detail",
    routes=(Route("/servers/<entity_id>", "servers_detail", detail),),
)

