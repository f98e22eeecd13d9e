"""The prompts panel: prompt templates listed, created and edited, and a preview that renders one
with arguments from a form generated from its argument schema, as prompts/get would.

Layer: plugin panels, over `panels.entities` and the kernel's prompt service (the sandboxed
renderer and the prompt hooks).
"""

from __future__ import annotations

from quart import g, request

from forge.contracts import InvocationRejected
from forge.services.prompts import PromptError, get_prompt
from forge_plugins.admin_ui.forms import FormField
from forge_plugins.admin_ui.pages import gateway, page_of, require
from forge_plugins.admin_ui.panels import Route
from forge_plugins.admin_ui.panels.entities import DESCRIPTION, NAME, EntityPages
from forge_plugins.admin_ui.panels.listing import Action, Column
from forge_plugins.admin_ui.schema_form import argument_form


def _arguments(prompt) -> str:
    schema = prompt.get("argument_schema") or {}
    required = set(schema.get("required") or ())
    names = [f"{name}*" if name in required else name for name in (schema.get("properties") or {})]
    return ", ".join(names) or "—"


async def preview(entity_id: str):
    await require("read", "prompts")
    gw = gateway()
    prompt = await gw.store.get("prompts", entity_id)
    form = await request.form if request.method == "POST" else None
    filled = argument_form(prompt.get("argument_schema"), form)
    rendered, problem = None, None
    if filled.arguments is not None:
        try:
            rendered = await get_prompt(gw, prompt, filled.arguments, g.principal)
        except (PromptError, InvocationRejected) as error:
            problem = str(error)
    status = 422 if filled.errors or problem else 200
    return await page_of(
        "prompts",
        f"Preview {prompt['name']}",
        "prompt_preview.html",
        status,
        prompt=prompt,
        rendered=rendered,
        problem=problem,
        **filled.context(),
    )


PANEL = EntityPages(
    id="prompts",
    title="Prompts",
    singular="prompt",
    order=30,
    intro="Templates MCP clients fill in with arguments (prompts/get).",
    fields=(
        NAME,
        DESCRIPTION,
        FormField(
            "template",
            "Template (Jinja)",
            "textarea",
            required=True,
            rows=10,
            help="Arguments are {{ name }}; the template renders in a sandbox.",
        ),
        FormField(
            "argument_schema",
            "Arguments (JSON Schema)",
            "json",
            rows=8,
            help='e.g. {"type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]}',
        ),
        FormField("enabled", "Enabled: MCP clients see it", "checkbox"),
    ),
    columns=(
        Column("Name", "name", "link"),
        Column("Description", "description"),
        Column("Arguments (* required)", _arguments, "code"),
    ),
    defaults={"enabled": True, "argument_schema": {"type": "object", "properties": {}}},
    actions=(Action("Preview", "admin_ui.prompts_preview"),),
    routes=(Route("/prompts/<entity_id>/preview", "prompts_preview", preview, ("GET", "POST")),),
)

