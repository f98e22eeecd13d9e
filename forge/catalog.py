"""The in-memory catalog: what MCP clients can see, built from the store and rebuilt on change.

Layer: kernel, between the store (which it reads only when the catalog changes) and the MCP
engine (which reads it on every message, so no database read sits on the hot path). A scope is
either the whole gateway (`/mcp`) or one virtual server (`/servers/{id}/mcp`). Every answer the
engine lists is precomputed here in its MCP shape, once per change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.services.uri_templates import UriTemplate

LIST_KINDS = ("tools", "resources", "prompts")


def tool_definition(tool: Mapping[str, Any]) -> dict:
    """The MCP Tool object clients see for a stored tool (an imported one as its upstream has it)."""
    if tool.get("definition"):
        return {**tool["definition"], "name": tool["name"]}
    definition = {
        "name": tool["name"],
        "inputSchema": tool.get("input_schema") or {"type": "object"},
    }
    if tool.get("description"):
        definition["description"] = tool["description"]
    if tool.get("output_schema"):
        definition["outputSchema"] = tool["output_schema"]
    if tool.get("annotations"):
        definition["annotations"] = tool["annotations"]
    return definition


def resource_definition(resource: Mapping[str, Any]) -> dict:
    if resource.get("definition"):
        return dict(resource["definition"])
    key = "uriTemplate" if resource.get("is_template") else "uri"
    definition = {key: resource["uri"], "name": resource["name"]}
    if resource.get("description"):
        definition["description"] = resource["description"]
    if resource.get("mime_type"):
        definition["mimeType"] = resource["mime_type"]
    return definition


def prompt_arguments(argument_schema: Mapping[str, Any] | None) -> list[dict]:
    """MCP prompt arguments derived from the stored JSON Schema of a prompt's arguments."""
    schema = argument_schema or {}
    required = set(schema.get("required") or ())
    arguments = []
    for name, spec in (schema.get("properties") or {}).items():
        argument = {"name": name, "required": name in required}
        if isinstance(spec, Mapping) and spec.get("description"):
            argument["description"] = spec["description"]
        arguments.append(argument)
    return arguments


def prompt_definition(prompt: Mapping[str, Any]) -> dict:
    if prompt.get("definition"):
        return {**prompt["definition"], "name": prompt["name"]}
    definition = {"name": prompt["name"], "arguments": prompt_arguments(prompt.get("argument_schema"))}
    if prompt.get("description"):
        definition["description"] = prompt["description"]
    return definition


@dataclass
class Scope:
    """What one endpoint can reach: entities keyed for lookup, and their MCP list answers."""

    tools: dict[str, dict] = field(default_factory=dict)
    resources: dict[str, dict] = field(default_factory=dict)
    templates: list[tuple[UriTemplate, dict]] = field(default_factory=list)
    prompts: dict[str, dict] = field(default_factory=dict)
    listed: dict[str, list[dict]] = field(default_factory=dict)

    @classmethod
    def build(cls, tools, resources, prompts) -> Scope:
        scope = cls()
        scope.tools = {tool["name"]: tool for tool in tools}
        for resource in resources:
            if resource.get("is_template"):
                scope.templates.append((UriTemplate(resource["uri"]), resource))
            else:
                scope.resources[resource["uri"]] = resource
        scope.prompts = {prompt["name"]: prompt for prompt in prompts}
        scope.listed = {
            "tools": [tool_definition(tool) for tool in sorted(tools, key=lambda t: t["name"])],
            "resources": [resource_definition(r) for r in sorted(scope.resources.values(), key=_uri)],
            "resourceTemplates": [resource_definition(r) for _, r in sorted(scope.templates, key=_template_uri)],
            "prompts": [prompt_definition(p) for p in sorted(prompts, key=lambda p: p["name"])],
        }
        return scope

    def find_template(self, uri: str) -> tuple[dict, dict[str, str]] | None:
        for template, resource in self.templates:
            variables = template.match(uri)
            if variables is not None:
                return resource, variables
        return None


def _uri(resource):
    return resource["uri"]


def _template_uri(pair):
    return pair[1]["uri"]


class Catalog:
    """The enabled catalog, one `Scope` for the whole gateway and one per enabled virtual server.

    What an upstream gateway offered is shown only while that gateway is enabled and not
    "unhealthy" (the federation plugin records its state), so its entities leave the lists when it
    goes down and come back with it, announced by list_changed both ways.
    """

    def __init__(self, snapshot: Mapping[str, list[dict]] | None = None):
        snapshot = snapshot or {}
        hidden = {g["id"] for g in snapshot.get("gateways", []) if not g.get("enabled", True) or g.get("state") == "unhealthy"}
        enabled = {
            kind: [e for e in snapshot.get(kind, []) if e.get("enabled", True) and e.get("gateway_id") not in hidden]
            for kind in snapshot
        }
        self.all = Scope.build(enabled.get("tools", []), enabled.get("resources", []), enabled.get("prompts", []))
        self.servers: dict[str, Scope] = {}
        self.server_records: dict[str, dict] = {}
        for server in enabled.get("servers", []):
            members = {kind: set(server.get(f"{kind[:-1]}_ids") or ()) for kind in LIST_KINDS}
            self.server_records[server["id"]] = server
            self.servers[server["id"]] = Scope.build(
                *[[e for e in enabled.get(kind, []) if e["id"] in members[kind]] for kind in LIST_KINDS]
            )
        self.tools_by_id = {tool["id"]: tool for tool in snapshot.get("tools", [])}

    def scope(self, server_id: str | None) -> Scope | None:
        """The scope of an endpoint: None for an unknown or disabled virtual server."""
        if server_id is None:
            return self.all
        return self.servers.get(server_id)

    def changed_lists(self, other: Catalog) -> set[str]:
        """Which list kinds differ from `other` in any scope: what list_changed must announce."""
        changed = set()
        scopes = [(self.all, other.all)] + [
            (self.servers.get(sid, Scope()), other.servers.get(sid, Scope()))
            for sid in set(self.servers) | set(other.servers)
        ]
        for mine, theirs in scopes:
            for kind in ("tools", "prompts"):
                if mine.listed.get(kind) != theirs.listed.get(kind):
                    changed.add(kind)
            if (mine.listed.get("resources"), mine.listed.get("resourceTemplates")) != (
                theirs.listed.get("resources"),
                theirs.listed.get("resourceTemplates"),
            ):
                changed.add("resources")
        return changed
