"""Entities imported from an upstream MCP server are served by the adapter of integration type
"MCP" (the federation plugin's), whatever their kind.

Layer: services. Tools reach it through the adapter registry like any tool; prompts, resources
and completions of imported entities come here from their own services.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forge.contracts import FEDERATED
from forge.mcp.jsonrpc import INTERNAL_ERROR, McpError


def is_federated(entity: Mapping[str, Any]) -> bool:
    return entity.get("gateway_id") is not None


def adapter(gateway):
    """The federation adapter; an imported entity without one is an error the client can read."""
    found = gateway.adapters.get(FEDERATED)
    if found is None:
        raise McpError(INTERNAL_ERROR, "this entity comes from an upstream gateway, and no federation plugin is installed")
    return found
