"""Reviewing an imported tool whose definition changed upstream: the diff against the approved
definition, and Approve / Reject buttons (forms with the CSRF token, like every form here).

Layer: plugin panels, over the kernel's `forge.services.pinning` (the decision, the same one
POST /tools/{id}/approve makes). The tools list flags such a tool (`flag`) and links here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import g, request, url_for

from forge.services.pinning import AWAITING, NothingToDecide, decide
from forge_plugins.admin_ui.pages import flash_redirect, gateway, page_of, require

FLAGS = {"changed": "changed upstream: review", "new": "new: awaits approval"}


def flag(tool: Mapping[str, Any]) -> str | None:
    """The tools list's note on a tool awaiting a decision (None for the others)."""
    return FLAGS.get(tool.get("pin_status") or "")


def awaiting(tool: Mapping[str, Any]) -> bool:
    return tool.get("pin_status") in AWAITING


async def review_tool(entity_id: str):
    """GET: the change and the buttons; POST (decision=approve|reject): decide, back to the list."""
    await require("read", "tools")
    gw = gateway()
    if request.method == "POST":
        await require("admin", "tools")
        verdict = (await request.form).get("decision")
        if verdict not in ("approve", "reject"):
            return await _page(entity_id, 422, error="Choose Approve or Reject.")
        try:
            tool = await decide(gw, entity_id, verdict, g.principal)
        except NothingToDecide as refused:
            return await _page(entity_id, 409, error=str(refused))
        done = "approved: MCP clients now see it" if verdict == "approve" else "rejected: the approved one stays"
        return flash_redirect(url_for("admin_ui.panel", panel_id="tools"), f"{tool['name']}: the new definition {done}.")
    return await _page(entity_id, 200)


async def _page(entity_id: str, status: int, error: str | None = None):
    tool = await gateway().store.get("tools", entity_id)
    pinning = {**(tool.get("pinning") or {}), "status": tool.get("pin_status")}
    return await page_of("tools", f"Review {tool['name']}", "tool_review.html", status, tool=tool, pinning=pinning, error=error)
