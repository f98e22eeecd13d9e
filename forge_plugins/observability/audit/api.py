"""GET /audit: the audit trail, newest first, filtered and paginated. Administrators only.

Layer: plugin (audit), a Quart blueprint over `store.AuditLog`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import tag, validate_querystring, validate_response

from forge.api.guard import require
from forge.api.schemas import ErrorBody


class AuditQuery(BaseModel):
    kind: str | None = Field(
        None, max_length=32, description="tools, resources, prompts, servers or gateways."
    )
    action: str | None = Field(
        None, max_length=16, description="create, update, delete, enable, disable or call."
    )
    principal: str | None = Field(None, max_length=255, description="Who acted, exactly as authenticated.")
    entity_id: str | None = Field(None, max_length=64)
    since: datetime | None = Field(
        None, description="Entries at or after this instant (ISO 8601; UTC if no zone)."
    )
    until: datetime | None = Field(
        None, description="Entries before this instant (ISO 8601; UTC if no zone)."
    )
    offset: int = Field(0, ge=0, le=2**63 - 1)  # a 64-bit OFFSET: larger overflows the database driver
    limit: int = Field(50, ge=1, le=1000)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    principal: str
    action: str
    kind: str
    entity_id: str | None = None
    entity_name: str | None = None
    outcome: str
    request_id: str | None = None
    trace_id: str | None = None
    before: dict[str, Any] | None = Field(None, description="The entity before the change, secrets masked.")
    after: dict[str, Any] | None = Field(None, description="The entity after the change, secrets masked.")
    details: dict[str, Any] | None = Field(
        None, description="changed fields; a call's transport, latency, error code."
    )


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    offset: int
    limit: int


def utc(instant: datetime | None) -> datetime | None:
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


def audit_blueprint(audit_log) -> Blueprint:
    blueprint = Blueprint("audit", __name__)

    @blueprint.get("/audit")
    @tag(["audit"])
    @validate_querystring(AuditQuery)
    @validate_response(AuditPage)
    @validate_response(ErrorBody, 403)
    async def get_audit(query_args: AuditQuery):
        """The audit trail: who changed what and when (secrets masked), and with AUDIT_TOOL_CALLS who
        called which tool. Newest first."""
        await require("admin", "audit")
        filters = query_args.model_dump(include={"kind", "action", "principal", "entity_id"})
        items, total = await audit_log.page(
            filters, utc(query_args.since), utc(query_args.until), query_args.offset, query_args.limit
        )
        return {"items": items, "total": total, "offset": query_args.offset, "limit": query_args.limit}

    return blueprint
