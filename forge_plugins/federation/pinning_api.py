"""The review of imported tools' changed definitions: GET /federation/changes, and
POST /tools/{id}/approve or /reject (administrators).

Layer: plugin API, a Quart blueprint over the store; decisions are the kernel's
(`forge.services.pinning.decide`: written under the lock imports hold, applied to the catalog at
once, reported to plugins so the audit trail records who decided).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint, g
from quart_schema import tag, validate_querystring, validate_response

from forge.api.guard import requires
from forge.api.schemas import ErrorBody, ToolOut
from forge.services.pinning import AWAITING, decide
from forge_plugins.federation.importer import ALL


class ChangesQuery(BaseModel):
    status: Literal["changed", "new", "rejected"] | None = Field(
        None, description="Only tools in this state; by default those awaiting a decision (changed and new)."
    )
    gateway_id: str | None = Field(None, max_length=64)


class ChangesPage(BaseModel):
    items: list[ToolOut]
    total: int


def pinning_blueprint(federation) -> Blueprint:
    blueprint = Blueprint("federation_pinning", __name__)
    gateway = federation.gateway

    @blueprint.get("/federation/changes")
    @tag(["tools"])
    @validate_querystring(ChangesQuery)
    @validate_response(ChangesPage)
    @requires("read", "tools")
    async def get_federation_changes(query_args: ChangesQuery):
        """Imported tools whose definition changed upstream since it was approved (each with its
        `pinning`: hashes, diff, per-field before and after), and new ones awaiting approval."""
        items = []
        for status in (query_args.status,) if query_args.status else AWAITING:
            filters = {"pin_status": status}
            if query_args.gateway_id:
                filters["gateway_id"] = query_args.gateway_id
            rows, _ = await gateway.store.list("tools", offset=0, limit=ALL, filters=filters)
            items.extend(rows)
        items.sort(key=lambda row: row["name"])
        return {"items": items, "total": len(items)}

    @blueprint.post("/tools/<entity_id>/approve")
    @tag(["tools"])
    @validate_response(ToolOut)
    @validate_response(ErrorBody, 404)
    @validate_response(ErrorBody, 409)
    @requires("admin", "tools")
    async def approve_tool(entity_id: str):
        """Approve the definition an upstream now offers for an imported tool (changed, new or
        once rejected): it is pinned and served from now on."""
        return await decide(gateway, entity_id, "approve", g.principal)

    @blueprint.post("/tools/<entity_id>/reject")
    @tag(["tools"])
    @validate_response(ToolOut)
    @validate_response(ErrorBody, 404)
    @validate_response(ErrorBody, 409)
    @requires("admin", "tools")
    async def reject_tool(entity_id: str):
        """Refuse the changed definition: the approved one stays served (a tool never approved stays
        withheld), and the same definition is not flagged again; a further change is."""
        return await decide(gateway, entity_id, "reject", g.principal)

    return blueprint
