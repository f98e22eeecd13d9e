"""The tools panel: the paginated list, the tool form, and "try it", which calls a tool through the
kernel (`forge.services.tools.call_tool`: argument check, guardrail hooks, adapter, metrics) with
arguments from a form generated from its input schema.

Layer: plugin panels, over `panels.entities` and the kernel's tool service.
"""

from __future__ import annotations

import json
import time

from quart import g, request

from forge.services.tools import call_tool
from forge_plugins.admin_ui.forms import FormField
from forge_plugins.admin_ui.pages import gateway, page_of, require
from forge_plugins.admin_ui.panels import Route
from forge_plugins.admin_ui.panels.entities import EntityPages
from forge_plugins.admin_ui.panels.listing import Action, Column
from forge_plugins.admin_ui.panels.tool_review import awaiting, flag, review_tool
from forge_plugins.admin_ui.schema_form import argument_form

METHODS = tuple((m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE"))


def _integration_types(gateway) -> list[tuple[str, str]]:
    return [(kind, kind) for kind in sorted(gateway.adapters)]


def _short(text: str | None, length: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


async def try_tool(entity_id: str):
    """A form for the tool's arguments; posting it calls the tool and shows the CallToolResult."""
    await require("read", "tools")
    gw = gateway()
    tool = await gw.store.get("tools", entity_id)
    form = None
    if request.method == "POST":
        await require("mcp", "mcp:all")
        form = await request.form
    filled = argument_form(tool.get("input_schema"), form)
    outcome = None
    if filled.arguments is not None:
        arguments = filled.arguments
        started = time.perf_counter()
        result = await call_tool(gw, tool, arguments, g.principal)
        outcome = {
            "arguments": json.dumps(arguments, indent=2, ensure_ascii=False),
            "result": result,
            "structured": json.dumps(result["structuredContent"], indent=2, ensure_ascii=False)
            if result.get("structuredContent") is not None
            else None,
            "contents": [_content(item) for item in result.get("content", [])],
            "elapsed_ms": (time.perf_counter() - started) * 1000,
        }
    status = 422 if filled.errors else 200
    title = f"Try {tool['name']}"
    return await page_of("tools", title, "tool_try.html", status, tool=tool, outcome=outcome, **filled.context())


def _content(item: dict) -> dict:
    """One content block, shaped for the template: text as text, images inline, the rest as JSON."""
    kind = item.get("type")
    if kind == "text":
        text = item.get("text", "")
        try:  # pretty-print JSON answers, the usual case for REST tools
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, TypeError):
            pass
        return {"type": "text", "text": text}
    if kind == "image" and str(item.get("mimeType", "")).startswith("image/"):
        return {"type": "image", "src": f"data:{item['mimeType']};base64,{item.get('data', '')}"}
    return {"type": kind or "unknown", "text": json.dumps(item, indent=2, ensure_ascii=False)}


PANEL = EntityPages(
    id="tools",
    title="Tools",
    singular="tool",
    order=10,
    intro="REST endpoints (and federated tools) that MCP clients can call.",
    fields=(
        FormField(
            "name", "Name", required=True, help="Letters, digits and _ . / - only; at most 64 characters."
        ),
        FormField(
            "description",
            "Description",
            "textarea",
            rows=3,
            help="What the model reads to decide when to call it.",
        ),
        FormField("integration_type", "Integration type", "select", choices=_integration_types),
        FormField(
            "url", "URL", "url", help="The upstream endpoint; {name} segments take arguments of that name."
        ),
        FormField("method", "HTTP method", "select", choices=METHODS),
        FormField(
            "input_schema",
            "Input schema (JSON Schema)",
            "json",
            rows=12,
            help='Describes the arguments: {"type": "object", "properties": {...}, "required": [...]}.',
        ),
        FormField("output_schema", "Output schema (JSON Schema, optional)", "json", rows=6),
        FormField(
            "headers",
            "Headers (JSON object, optional)",
            "json",
            rows=3,
            help='Sent upstream, e.g. {"X-Api-Key": "..."}.',
        ),
        FormField(
            "annotations",
            "Annotations (JSON object, optional)",
            "json",
            rows=3,
            help='MCP hints, e.g. {"readOnlyHint": true}.',
        ),
        FormField("timeout", "Timeout (seconds, optional)", "number"),
        FormField("enabled", "Enabled: MCP clients see it", "checkbox"),
    ),
    columns=(
        Column("Name", "name", "link"),
        Column("Description", lambda t: _short(t.get("description"))),
        Column("Type", "integration_type"),
        Column("Upstream", lambda t: f"{t.get('method', '')} {t.get('url') or ''}".strip(), "code"),
        Column("Definition", flag, "error"),  # an imported tool changed upstream (pinning)
    ),
    defaults={
        "integration_type": "REST",
        "method": "POST",
        "input_schema": {"type": "object", "properties": {}},
        "enabled": True,
    },
    actions=(Action("Try", "admin_ui.tools_try"), Action("Review change", "admin_ui.tools_review", shown=awaiting)),
    routes=(
        Route("/tools/<entity_id>/try", "tools_try", try_tool, ("GET", "POST")),
        Route("/tools/<entity_id>/review", "tools_review", review_tool, ("GET", "POST")),
    ),
)

