"""The in-memory catalog: what MCP clients can see, built from the store and rebuilt on change.

Layer: kernel, between the store (which it reads only when the catalog changes) and the MCP
engine (which reads it on every message, so no database read sits on the hot path). A scope is
either the whole gateway (`/mcp`) or one virtual server (`/servers/{id}/mcp`). Every answer the
engine lists is precomputed here in its MCP shape, once per change.

A catalog is built whole from a store snapshot at start-up (and on `reload_catalog`); one entity's
write is applied with `with_change`, which answers a new catalog sharing every scope the write
does not touch and patching the sorted lists of those it does (a bisect, not a rebuild), so a write
costs the same with 10 tools as with 10,000. Catalogs are never changed in place: a reader holding
one sees a consistent state.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.services.uri_templates import UriTemplate

LIST_KINDS = ("tools", "resources", "prompts")
KINDS = (*LIST_KINDS, "servers", "gateways")
BULK_CHANGES = 50  # more changes at once are applied by one rebuild (see `Catalog.with_changes`)


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
    # The sort key of each entry of `listed`, same order: where a patch bisects.
    keys: dict[str, list[str]] = field(default_factory=dict)

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
        ordered = {
            "tools": sorted(tools, key=lambda t: t["name"]),
            "resources": sorted(scope.resources.values(), key=_uri),
            "resourceTemplates": [r for _, r in sorted(scope.templates, key=_template_uri)],
            "prompts": sorted(prompts, key=lambda p: p["name"]),
        }
        scope.listed = {kind: [DEFINITIONS[kind](e) for e in entities] for kind, entities in ordered.items()}
        scope.keys = {kind: [e[SORT_KEYS[kind]] for e in entities] for kind, entities in ordered.items()}
        return scope

    def patched(self, kind: str, old: dict | None, new: dict | None) -> tuple[Scope, set[str]]:
        """A copy with entity `old` of `kind` (tools, resources or prompts; None: absent before)
        replaced by `new` (None: absent after), and the list kinds whose MCP answer changed.
        Only the touched lookup and lists are copied; the rest is shared with this scope."""
        scope = copy.copy(self)
        scope.listed, scope.keys = dict(self.listed), dict(self.keys)
        touched: set[str] = set()
        for entity, present in ((old, False), (new, True)):
            if entity is None:
                continue
            listed = _list_kind(kind, entity)
            if listed not in touched:
                touched.add(listed)
                scope.listed[listed], scope.keys[listed] = list(self.listed[listed]), list(self.keys[listed])
                scope._copy_lookup(listed)
            scope._place(listed, entity, present)
        unseen = old is not None and new is not None and _list_kind(kind, old) == _list_kind(kind, new)
        if unseen and DEFINITIONS[kind](old) == DEFINITIONS[kind](new):
            touched.clear()  # only fields clients do not see changed (a URL, headers)
        return scope, {"resources" if name == "resourceTemplates" else name for name in touched}

    def _copy_lookup(self, listed: str) -> None:
        if listed == "resourceTemplates":
            self.templates = list(self.templates)
        else:
            setattr(self, listed, dict(getattr(self, listed)))

    def _place(self, listed: str, entity: dict, present: bool) -> None:
        """Take `entity` out of (present=False) or put it into (True) its lookup and sorted list."""
        key = entity[SORT_KEYS[listed]]
        keys, definitions = self.keys[listed], self.listed[listed]
        at = bisect.bisect_left(keys, key)
        if present:
            keys.insert(at, key)
            definitions.insert(at, DEFINITIONS[listed](entity))
        elif at < len(keys) and keys[at] == key:
            del keys[at], definitions[at]
        if listed == "resourceTemplates":
            self.templates[:] = [(t, r) for t, r in self.templates if r["id"] != entity["id"]]
            if present:
                self.templates.append((UriTemplate(key), entity))
            return
        lookup = getattr(self, listed)
        if present:
            lookup[key] = entity
        elif key in lookup and lookup[key]["id"] == entity["id"]:
            del lookup[key]

    def find_template(self, uri: str) -> tuple[dict, dict[str, str]] | None:
        for template, resource in self.templates:
            variables = template.match(uri)
            if variables is not None:
                return resource, variables
        return None


def _uri(resource):
    return resource["uri"]


def _list_kind(kind: str, entity: Mapping[str, Any]) -> str:
    """Which list an entity of `kind` appears in: a resource that is a URI template in its own."""
    return "resourceTemplates" if kind == "resources" and entity.get("is_template") else kind


DEFINITIONS = {
    "tools": tool_definition,
    "resources": resource_definition,
    "resourceTemplates": resource_definition,
    "prompts": prompt_definition,
}
SORT_KEYS = {"tools": "name", "resources": "uri", "resourceTemplates": "uri", "prompts": "name"}


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
        # Every stored entity by kind and id, enabled or not: what `with_change` patches.
        self.entities: dict[str, dict[str, dict]] = {
            kind: {e["id"]: e for e in snapshot.get(kind, [])} for kind in KINDS
        }
        self._build()

    def _build(self) -> None:
        self.hidden = _hidden_gateways(self.entities["gateways"].values())
        enabled = {kind: [e for e in self.entities[kind].values() if self._visible(e)] for kind in KINDS}
        self.all = Scope.build(enabled["tools"], enabled["resources"], enabled["prompts"])
        self.servers: dict[str, Scope] = {}
        self.server_records: dict[str, dict] = {}
        for server in enabled["servers"]:
            self._build_server(server)

    def _visible(self, entity: Mapping[str, Any]) -> bool:
        # An imported tool whose changed (or new) definition awaits approval may be withheld.
        withheld = entity.get("pinning") and entity["pinning"].get("withheld")
        return entity.get("enabled", True) and entity.get("gateway_id") not in self.hidden and not withheld

    def _build_server(self, server: dict) -> None:
        members = [
            [e for e in map(self.entities[kind].get, server.get(f"{kind[:-1]}_ids") or ()) if e and self._visible(e)]
            for kind in LIST_KINDS
        ]
        self.server_records[server["id"]] = server
        self.servers[server["id"]] = Scope.build(*members)

    @property
    def tools_by_id(self) -> dict[str, dict]:
        """Every stored tool by id, enabled or not."""
        return self.entities["tools"]

    def with_change(self, kind: str, entity_id: str, after: dict | None) -> tuple[Catalog, set[str]]:
        """A new catalog where entity `entity_id` of `kind` is `after` (None: deleted), and the
        list kinds ("tools", "resources", "prompts") whose MCP answer changed in any scope.

        No store read: `after` is the entity as the store answers it after the write. A deleted
        tool, resource or prompt also leaves the virtual servers holding it (as `?force=true`
        deletes do in the store)."""
        catalog = copy.copy(self)
        catalog.entities = {**self.entities, kind: dict(self.entities[kind])}
        before = catalog.entities[kind].pop(entity_id, None)
        if after is not None:
            catalog.entities[kind][entity_id] = after
        if kind == "gateways":
            if after is None:  # what it offered goes with it (the store cascades)
                for member_kind in LIST_KINDS:
                    catalog.entities[member_kind] = {
                        i: e for i, e in catalog.entities[member_kind].items() if e.get("gateway_id") != entity_id
                    }
            catalog.hidden = _hidden_gateways(catalog.entities["gateways"].values())
            if catalog.hidden == self.hidden and after is not None:
                return catalog, set()
            catalog._build()
            return catalog, catalog.changed_lists(self)
        catalog.servers, catalog.server_records = dict(self.servers), dict(self.server_records)
        if kind == "servers":
            return catalog, catalog._server_changed(entity_id, before, after)
        return catalog, catalog._member_changed(kind, entity_id, before, after)

    def with_changes(self, changes) -> tuple[Catalog, set[str]]:
        """`with_change` for each of `changes` ((kind, id, after), in order), and the lists changed.
        Past BULK_CHANGES the entities are replaced first and the scopes rebuilt once, in memory:
        patching suits a few changes, an import of thousands is one rebuild."""
        changes = list(changes)
        if len(changes) <= BULK_CHANGES:
            catalog, changed = self, set()
            for kind, entity_id, after in changes:
                catalog, more = catalog.with_change(kind, entity_id, after)
                changed |= more
            return catalog, changed
        entities = {kind: dict(records) for kind, records in self.entities.items()}
        for kind, entity_id, after in changes:
            entities[kind].pop(entity_id, None)
            if after is not None:
                entities[kind][entity_id] = after
            elif kind == "gateways":  # the store cascades to what the gateway offered
                for member_kind in LIST_KINDS:
                    entities[member_kind] = {i: e for i, e in entities[member_kind].items() if e.get("gateway_id") != entity_id}
            elif kind in LIST_KINDS:  # and takes a deleted member out of its servers
                held = f"{kind[:-1]}_ids"
                for server_id, server in entities["servers"].items():
                    if entity_id in (server.get(held) or ()):
                        entities["servers"][server_id] = {**server, held: [i for i in server[held] if i != entity_id]}
        catalog = Catalog.__new__(Catalog)
        catalog.entities = entities
        catalog._build()
        return catalog, catalog.changed_lists(self)

    def _server_changed(self, server_id: str, before: dict | None, after: dict | None) -> set[str]:
        previous = self.servers.pop(server_id, None)
        self.server_records.pop(server_id, None)
        if after is not None and self._visible(after):
            self._build_server(after)
        fresh = self.servers.get(server_id)
        if previous is None and fresh is None:
            return set()
        return _differing(previous or EMPTY, fresh or EMPTY)

    def _member_changed(self, kind: str, entity_id: str, before: dict | None, after: dict | None) -> set[str]:
        field_name = f"{kind[:-1]}_ids"
        holders = [sid for sid, server in self.server_records.items() if entity_id in (server.get(field_name) or ())]
        if after is None:  # out of every virtual server holding it, as the store did
            servers = self.entities["servers"] = dict(self.entities["servers"])
            for server_id, server in servers.items():
                if entity_id in (server.get(field_name) or ()):
                    servers[server_id] = {**server, field_name: [i for i in server[field_name] if i != entity_id]}
                    if server_id in self.server_records:
                        self.server_records[server_id] = servers[server_id]
        old = before if before is not None and self._visible(before) else None
        new = after if after is not None and self._visible(after) else None
        if old is None and new is None:
            return set()
        self.all, changed = self.all.patched(kind, old, new)
        for server_id in holders:
            self.servers[server_id], more = self.servers[server_id].patched(kind, old, new)
            changed |= more
        return changed

    def scope(self, server_id: str | None) -> Scope | None:
        """The scope of an endpoint: None for an unknown or disabled virtual server."""
        if server_id is None:
            return self.all
        return self.servers.get(server_id)

    def changed_lists(self, other: Catalog) -> set[str]:
        """Which list kinds differ from `other` in any scope: what list_changed must announce."""
        changed = set()
        scopes = [(self.all, other.all)] + [
            (self.servers.get(sid, EMPTY), other.servers.get(sid, EMPTY))
            for sid in set(self.servers) | set(other.servers)
        ]
        for mine, theirs in scopes:
            if mine is not theirs:
                changed |= _differing(mine, theirs)
        return changed


EMPTY = Scope()


def _differing(mine: Scope, theirs: Scope) -> set[str]:
    """The list kinds whose MCP answers differ between two scopes."""
    changed = set()
    for kind in ("tools", "prompts"):
        if mine.listed.get(kind) != theirs.listed.get(kind):
            changed.add(kind)
    if (mine.listed.get("resources"), mine.listed.get("resourceTemplates")) != (
        theirs.listed.get("resources"),
        theirs.listed.get("resourceTemplates"),
    ):
        changed.add("resources")
    return changed


def _hidden_gateways(gateways: Iterable[Mapping[str, Any]]) -> set[str]:
    """Upstream gateways whose entities stay out of the lists: disabled or found unhealthy."""
    return {g["id"] for g in gateways if not g.get("enabled", True) or g.get("state") == "unhealthy"}
