"""The prompts panel: prompt templates listed, created and edited, and a preview that renders one
with arguments from a form generated from its argument schema, as prompts/get would.

Layer: plugin panels, over `panels.entities` and the kernel's prompt service (the sandboxed
renderer and the prompt hooks).
"""

from __future__ import annotations

from quart import Blueprint, g, request

from forge.contracts import InvocationRejected
from forge.services.prompts import PromptError, get_prompt
from forge_plugins.admin_ui.forms import FormField
from forge_plugins.admin_ui.pages import gateway, page_of, require
from forge_plugins.admin_ui.panels import entities
from forge_plugins.admin_ui.panels.entities import Column, EntityPages
from forge_plugins.admin_ui.schema_form import argument_fields, arguments_from_form, posted_arguments


def _arguments(prompt) -> str:
    schema = prompt.get("argument_schema") or {}
    required = set(schema.get("required") or ())
    names = [f"{name}*" if name in required else name for name in (schema.get("properties") or {})]
    return ", ".join(names) or "—"


SPEC = EntityPages(
    kind="prompts",
    title="Prompts",
    singular="prompt",
    order=30,
    intro="Templates MCP clients fill in with arguments (prompts/get).",
    fields=(
        FormField("name", "Name", required=True),
        FormField("description", "Description", "textarea", rows=3),
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
    actions=(("Preview", "admin_ui.prompts_preview"),),
)


def panel():
    return entities.panel(SPEC)


def register(blueprint: Blueprint) -> None:
    entities.register(blueprint, SPEC)
    blueprint.add_url_rule(
        "/prompts/<entity_id>/preview", "prompts_preview", preview, methods=["GET", "POST"]
    )


async def preview(entity_id: str):
    await require("read", "prompts")
    gw = gateway()
    prompt = await gw.store.get("prompts", entity_id)
    fields = argument_fields(prompt.get("argument_schema"))
    values = {field.name: field.default for field in fields}
    errors: dict[str, str] = {}
    rendered, problem = None, None
    if request.method == "POST":
        form = await request.form
        values = posted_arguments(fields, form)
        arguments, errors = arguments_from_form(fields, form)
        if not errors:
            try:
                rendered = await get_prompt(gw, prompt, arguments, g.principal)
            except (PromptError, InvocationRejected) as error:
                problem = str(error)
    status = 422 if errors or problem else 200
    return await page_of(
        "prompts",
        f"Preview {prompt['name']}",
        "prompt_preview.html",
        status,
        prompt=prompt,
        fields=fields,
        values=values,
        errors=errors,
        rendered=rendered,
        problem=problem,
    )
