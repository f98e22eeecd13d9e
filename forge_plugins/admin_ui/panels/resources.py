"""The resources panel: static text resources and URI templates, listed, created and edited.

Layer: plugin panels, over `panels.entities`. Binary (base64) content is kept as it is: the form
edits text only, and leaving the text empty on a binary resource leaves its content alone.
"""

from __future__ import annotations

from forge_plugins.admin_ui.forms import FormField
from forge_plugins.admin_ui.panels.entities import DESCRIPTION, EntityPages
from forge_plugins.admin_ui.panels.listing import Column


async def _keep_binary_content(gateway, payload: dict, form, before: dict | None) -> dict:
    if before and before.get("blob") is not None and payload.get("content") is None:
        payload.pop("content", None)
    if payload.get("content") is None and not before:
        payload.pop("content", None)  # a new resource without content is an empty text one
    return payload


def _content_kind(resource) -> str:
    if resource.get("is_template"):
        return "template"
    return "binary" if resource.get("blob") is not None else "text"


PANEL = EntityPages(
    id="resources",
    title="Resources",
    singular="resource",
    order=20,
    label_key="uri",
    intro="Content MCP clients can read by URI; a URI with {variables} is a template.",
    fields=(
        FormField("uri", "URI", required=True, help="An absolute URI, e.g. docs://readme or files://{path}."),
        FormField("name", "Name", help="Shown to clients; the URI when left empty.", omit_empty=True),
        DESCRIPTION,
        FormField("mime_type", "MIME type", help="e.g. text/markdown"),
        FormField(
            "content",
            "Text content",
            "textarea",
            rows=10,
            help="What resources/read answers; {variables} of a template are substituted.",
            source="text",
        ),
        FormField("enabled", "Enabled: MCP clients see it", "checkbox"),
    ),
    columns=(
        Column("URI", "uri", "link"),
        Column("Name", "name"),
        Column("MIME type", "mime_type"),
        Column("Kind", _content_kind),
    ),
    defaults={"enabled": True, "mime_type": "text/plain"},
    adjust=_keep_binary_content,
)
