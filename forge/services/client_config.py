"""Ready-to-paste MCP client configurations for one virtual server.

Layer: services. Pure; the API (`GET /servers/{id}/client-config`) and the CLI
(`forge client-config`) both answer what `client_config` builds, so they never disagree.

Desktop clients that only start local processes reach Forge through `forge-stdio` (the stdio
bridge, token in the FORGE_TOKEN variable so it stays out of process lists); clients that speak
Streamable HTTP get the endpoint and an Authorization header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CLIENTS = ("claude-desktop", "vscode", "cursor", "generic")
TOKEN_INPUT = "forge-token"


def slug(name: str) -> str:
    """The key a configuration files the server under: its name, lower case, [a-z0-9_-] only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "forge"


def endpoint(base_url: str, server_id: str) -> str:
    return f"{base_url.rstrip('/')}/servers/{server_id}/mcp"


def placeholder(server_id: str) -> str:
    """What stands in for a token that was not given: the command that makes one."""
    return f"<forge token --scope server:{server_id}>"


def client_config(
    client: str,
    server: Mapping[str, Any],
    base_url: str,
    *,
    token: str | None = None,
    auth_required: bool = True,
) -> dict:
    """The configuration `client` (one of CLIENTS) needs to reach `server` on the Forge at
    `base_url`. Without `token`, a gateway that requires auth gets a placeholder (VS Code: a
    password prompt); one that does not gets no credentials at all."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; one of: {', '.join(CLIENTS)}")
    name, url = slug(server["name"]), endpoint(base_url, server["id"])
    secret = token or (placeholder(server["id"]) if auth_required else None)
    if client == "claude-desktop":
        entry: dict[str, Any] = {"command": "forge-stdio", "args": ["--url", url]}
        if secret:
            entry["env"] = {"FORGE_TOKEN": secret}
        return {"mcpServers": {name: entry}}
    if client == "vscode":
        prompt = auth_required and not token
        entry = {"type": "http", "url": url}
        if secret:
            entry["headers"] = {
                "Authorization": f"Bearer {'${input:' + TOKEN_INPUT + '}' if prompt else secret}"
            }
        config: dict[str, Any] = {"servers": {name: entry}}
        if prompt:
            config["inputs"] = [
                {
                    "type": "promptString",
                    "id": TOKEN_INPUT,
                    "description": f"Forge token for {server['name']}",
                    "password": True,
                }
            ]
        return config
    entry = {"url": url} if client == "cursor" else {"type": "http", "url": url}
    if secret:
        entry["headers"] = {"Authorization": f"Bearer {secret}"}
    return {"mcpServers": {name: entry}}
