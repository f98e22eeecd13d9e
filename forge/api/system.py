"""Liveness, readiness, version, and the seed's curl-friendly `/protocol/*` endpoints.

Layer: api. `/protocol/initialize` answers what an MCP `initialize` would (without opening a
session: MCP clients use /mcp); `/protocol/ping` answers a ping, bare or as JSON-RPC.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from quart import Blueprint, current_app, request
from quart_schema import tag, validate_request, validate_response

from forge import __version__
from forge.api.bodies import require_json_object
from forge.api.guard import requires
from forge.mcp.methods.lifecycle import INSTRUCTIONS, capabilities
from forge.mcp.versions import HANDSHAKE_VERSIONS, MODERN_VERSIONS, negotiate

log = logging.getLogger("forge.api")
READY_CHECK_SECONDS = 3.0  # a dependency slower than this to answer counts as unreachable
blueprint = Blueprint("system", __name__)
blueprint.before_request(require_json_object)


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    """`status` is "ready", "degraded" (Redis unreachable: serving from this process's own state)
    or "unavailable" (the database unreachable); each dependency is "ok" or "unreachable" (`redis`
    is "not used" unless CACHE_TYPE=redis)."""

    status: str
    database: str
    redis: str


class Version(BaseModel):
    app: str
    version: str
    protocol_versions: list[str]
    plugins: list[dict[str, Any]]


class InitializeRequest(BaseModel):
    protocol_version: str = Field(validation_alias=AliasChoices("protocol_version", "protocolVersion"))
    capabilities: dict[str, Any] = Field(default_factory=dict)
    client_info: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasChoices("client_info", "clientInfo"))


class InitializeResult(BaseModel):
    protocolVersion: str
    capabilities: dict[str, Any]
    serverInfo: dict[str, Any]
    instructions: str


class Pong(BaseModel):
    """`{}`, or `{"jsonrpc": "2.0", "id": ..., "result": {}}` answering a JSON-RPC ping."""

    model_config = ConfigDict(extra="allow")


@blueprint.get("/health")
@tag(["system"])
@validate_response(Health)
async def health():
    """Liveness: the process serves requests."""
    return {"status": "healthy"}


@blueprint.get("/ready")
@tag(["system"])
@validate_response(Ready)
@validate_response(Ready, 503)
async def ready():
    """Readiness: the database answers (503 while it does not; MCP calls keep being served from
    the in-memory catalog meanwhile), and Redis with CACHE_TYPE=redis. Redis down is "degraded",
    still 200: every process falls back to its own state, and a 503 would take every replica
    out of the load balancer at once for an outage they can serve through."""
    gateway = current_app.config["FORGE_GATEWAY"]
    checks = {"database": gateway.store.ping}
    if gateway.cluster.shared:
        checks["redis"] = gateway.cluster.ping
    answer: dict[str, Any] = {"redis": "not used"}
    for name, ping in checks.items():
        try:
            async with asyncio.timeout(READY_CHECK_SECONDS):
                await ping()
            answer[name] = "ok"
        except Exception as error:  # noqa: BLE001 - whatever the failure, the dependency is not there
            log.warning("readiness: %s unreachable: %s", name, str(error) or type(error).__name__)
            answer[name] = "unreachable"
    if answer["database"] != "ok":
        return {"status": "unavailable", **answer}, 503
    if answer["redis"] == "unreachable":
        return {"status": "degraded", **answer}
    return {"status": "ready", **answer}


@blueprint.get("/version")
@tag(["system"])
@validate_response(Version)
async def version():
    from forge.plugins import describe_plugins

    gateway = current_app.config["FORGE_GATEWAY"]
    return {
        "app": gateway.settings.app_name,
        "version": __version__,
        "protocol_versions": [*MODERN_VERSIONS, *HANDSHAKE_VERSIONS],
        "plugins": [{"name": p["name"], "version": p["version"]} for p in describe_plugins(gateway.pm)],
    }


@blueprint.post("/protocol/initialize")
@tag(["protocol"])
@validate_request(InitializeRequest)
@validate_response(InitializeResult)
@requires("mcp", "mcp:all")
async def protocol_initialize(data: InitializeRequest):
    """What `initialize` answers: the negotiated version, capabilities and server info."""
    return {
        "protocolVersion": negotiate(data.protocol_version),
        "capabilities": capabilities(),
        "serverInfo": current_app.config["FORGE_GATEWAY"].engine.server_info,
        "instructions": INSTRUCTIONS,
    }


@blueprint.post("/protocol/ping")
@tag(["protocol"])
@validate_response(Pong)
@requires("mcp", "mcp:all")
async def protocol_ping():
    """Answer `{}`, or a JSON-RPC response when the body is a JSON-RPC ping."""
    body = await request.get_json(silent=True)
    if isinstance(body, dict) and body.get("jsonrpc") == "2.0" and "id" in body:
        return {"jsonrpc": "2.0", "id": body["id"], "result": {}}
    return {}
