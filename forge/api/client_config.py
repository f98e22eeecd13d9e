"""`GET /servers/{id}/client-config`: what an MCP client needs to reach one virtual server.

Layer: api, over `forge.services.client_config`. The answer names this gateway as the request
reached it (scheme, host, root path), unless `url` gives the address clients should use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, current_app, request
from quart_schema import tag, validate_querystring, validate_response

from forge.api.guard import requires
from forge.api.schemas import ErrorBody
from forge.services.client_config import client_config

blueprint = Blueprint("client_config", __name__)


class ClientConfigQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    client: Literal["claude-desktop", "vscode", "cursor", "generic"] = Field(
        "generic", alias="for", description="The client the configuration is for."
    )
    url: str | None = Field(None, max_length=4096, description="Forge's base URL as clients reach it.")


class ClientConfig(BaseModel):
    """The JSON to paste into the client's configuration file."""

    model_config = ConfigDict(extra="allow")


@blueprint.get("/servers/<server_id>/client-config")
@tag(["servers"])
@validate_querystring(ClientConfigQuery)
@validate_response(ClientConfig)
@validate_response(ErrorBody, 404)
@requires("read", "servers")
async def server_client_config(server_id: str, query_args: ClientConfigQuery):
    """Ready-to-paste configuration: `forge-stdio` for Claude Desktop, Streamable HTTP for the
    others. The token is a placeholder (VS Code prompts for it); `forge client-config --token`
    fills it in."""
    gateway = current_app.config["FORGE_GATEWAY"]
    server = await gateway.store.get("servers", server_id)
    base_url = query_args.url or f"{request.scheme}://{request.host}{request.root_path}"
    return client_config(query_args.client, server, base_url, auth_required=gateway.settings.auth_required)
