"""Forge plugin `audit`: the audit trail of the catalog's changes, and optionally of tool calls.

Every management write (the REST API's and the admin UI's) is recorded through
`forge_after_entity_write`: who, when, what (kind, action, entity id and name, the fields that
changed) and the entity before and after, with header values and other secrets masked. With
AUDIT_TOOL_CALLS=true every tools/call over MCP adds who called which tool and the outcome (never
the arguments), buffered in memory and written in batches. `GET /audit` lists the trail for
administrators; entries older than AUDIT_RETENTION_DAYS are pruned hourly.

A plugin rather than kernel code: it needs nothing but public hooks (`forge_after_entity_write`,
`forge_mcp_middleware`, `forge_blueprints`, `forge_startup`/`forge_shutdown`), so the kernel stays
the same size and a deployment that does not want an audit table leaves it out
(PLUGINS_DISABLED=audit). It ships in the observability distribution, as a second entry point.
"""

from __future__ import annotations

import time
import weakref

from opentelemetry import trace

from forge.hookspecs import hookimpl
from forge.logs import request_id
from forge.store.models import utcnow
from forge_plugins.observability.audit.api import audit_blueprint
from forge_plugins.observability.audit.masking import masked_entity
from forge_plugins.observability.audit.settings import AuditSettings
from forge_plugins.observability.audit.store import AuditLog
from forge_plugins.observability.observer import outcome_of
from forge_plugins.observability.upstream import current_request

_logs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def audit_log_of(gateway) -> AuditLog | None:
    """This plugin's audit log of `gateway`, or None when the plugin is not loaded there."""
    return _logs.get(gateway)


def _audit_log(gateway) -> AuditLog:
    audit_log = _logs.get(gateway)
    if audit_log is None:
        audit_log = _logs[gateway] = AuditLog(gateway.plugin_settings["AuditSettings"])
    return audit_log


def write_entry(kind: str, before: dict | None, after: dict | None, principal) -> dict:
    """The audit entry of one committed change of the catalog."""
    entity = after if after is not None else before
    details = {"auth": getattr(principal, "method", None)}
    if before is None:
        action = "create"
    elif after is None:
        action = "delete"
    else:
        changed = sorted(
            key
            for key in before.keys() | after.keys()
            if key != "updated_at" and before.get(key) != after.get(key)
        )
        details["changed"] = changed
        action = ("enable" if after.get("enabled") else "disable") if changed == ["enabled"] else "update"
    return {
        "at": utcnow(),
        "principal": getattr(principal, "name", "-"),
        "action": action,
        "kind": kind,
        "entity_id": entity.get("id"),
        "entity_name": entity.get("name") or entity.get("uri"),
        "outcome": "ok",
        **correlation(),
        "before": masked_entity(before),
        "after": masked_entity(after),
        "details": details,
    }


def correlation() -> dict:
    """The request id and trace id of what is being served, when there are any."""
    current = request_id.get()
    record = current_request.get()
    if record is not None and record.carried is not None:
        trace_id = record.carried.trace_id
    else:
        context = trace.get_current_span().get_span_context()
        trace_id = f"{context.trace_id:032x}" if context.is_valid else None
    return {"request_id": None if current == "-" else current, "trace_id": trace_id}


class ToolCallAudit:
    """The middleware recording each tools/call (AUDIT_TOOL_CALLS=true), innermost of the chain so
    the observability plugin's request id and trace are current."""

    def __init__(self, gateway, audit_log: AuditLog):
        self.gateway = gateway
        self.audit_log = audit_log

    async def __call__(self, message, connection, call_next):
        if type(message) is not dict or message.get("method") != "tools/call" or "id" not in message:
            return await call_next(message, connection)
        started = time.perf_counter()
        outcome, code = "cancelled", None
        try:
            answer = await call_next(message, connection)
            outcome, code = outcome_of(answer)
            return answer
        finally:
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            name = name[:255] if isinstance(name, str) else None
            tool = self.gateway.catalog.all.tools.get(name) if name is not None else None
            details = {
                "transport": connection.transport,
                "server_id": connection.server_id,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            if code is not None:
                details["error_code"] = code
            self.audit_log.enqueue(
                {
                    "at": utcnow(),
                    "principal": connection.principal.name,
                    "action": "call",
                    "kind": "tools",
                    "entity_id": tool["id"] if tool is not None else None,
                    "entity_name": name,
                    "outcome": outcome,
                    **correlation(),
                    "before": None,
                    "after": None,
                    "details": details,
                }
            )


@hookimpl
def forge_settings_sections():
    return AuditSettings


@hookimpl
def forge_blueprints(gateway):
    return [audit_blueprint(_audit_log(gateway))]


@hookimpl
def forge_startup(gateway):
    return _audit_log(gateway).open(gateway.store, gateway.settings.async_database_url)


@hookimpl
def forge_shutdown(gateway):
    return _audit_log(gateway).close()


@hookimpl
def forge_after_entity_write(gateway, kind, before, after, principal):
    return _audit_log(gateway).record(write_entry(kind, before, after, principal))


@hookimpl(trylast=True)
def forge_mcp_middleware(gateway):
    audit_log = _audit_log(gateway)
    return ToolCallAudit(gateway, audit_log) if audit_log.settings.tool_calls else None
