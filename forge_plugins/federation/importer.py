"""Importing an upstream's catalog into the store: what it offers becomes tools, prompts and
resources whose `gateway_id` names the gateway, added, changed and removed to match.

Layer: plugin, over the store (`gateway.store`, plain CRUD) and an open upstream session.

Names. An imported tool or prompt is called `<prefix>.<upstream name>`, where the prefix is the
gateway's `prefix`, or its `name` when `prefix` is unset; a prefix of "" keeps the upstream's name.
When that name is taken by another entity (a local one, or another gateway's), the entity falls
back to `<gateway name>.<upstream name>`, so two upstreams' same-named tools never collide; when
that is taken too, it is skipped and the gateway's `last_error` says so. Resources keep their URIs;
a URI another entity already has is skipped the same way. The upstream's definition is kept
verbatim (served as is by `forge.catalog`), under its upstream name in `original_name`.

Pinning. With FEDERATION_PIN_TOOLS (the default) each imported tool's definition is pinned when it
is approved (on import, unless FEDERATION_REQUIRE_APPROVAL): a later sync that finds it changed
upstream leaves the approved definition served (or withholds the tool, FEDERATION_ON_TOOL_CHANGE=
disable) and records the change for an administrator (`pinning`).

Loops. Every Forge names itself in the `_meta` of its server/discover answer (`io.forge/instance`).
An imported definition's `_meta["io.forge/path"]` lists the Forge instances it came through (the
upstream's appended at each import); an entity whose path already holds this Forge came from here
and is skipped, and a gateway that turns out to be this Forge itself is refused (`SelfLoop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from forge.contracts import FEDERATED
from forge.mcp.jsonrpc import METHOD_NOT_FOUND, McpError
from forge.store.repository import Conflict, NotFound
from forge_plugins.federation.pinning import CHANGED, Pinning, definition_hash
from forge_plugins.federation.wire import INSTANCE_META, PATH_META

log = logging.getLogger("forge.federation")
ALL = 10**9  # "every row" for the store's paged list
# (what the catalog holds, method, the result's list key, the capability that announces it)
LISTS = (
    ("tools", "tools/list", "tools", "tools"),
    ("prompts", "prompts/list", "prompts", "prompts"),
    ("resources", "resources/list", "resources", "resources"),
    ("templates", "resources/templates/list", "resourceTemplates", "resources"),
)


class SelfLoop(Exception):
    """The gateway's URL leads back to this Forge."""


async def offered(session, timeout: float) -> dict[str, list[dict]]:
    """Everything the upstream lists, page by page; a list it does not serve is empty."""
    capabilities = session.server.get("capabilities")
    found: dict[str, list[dict]] = {}
    for kind, method, key, capability in LISTS:
        found[kind] = []
        if isinstance(capabilities, Mapping) and capability not in capabilities:
            continue
        cursor = None
        for _ in range(1000):  # a cursor that never ends must not hold the import forever
            try:
                page = await session.request(method, {"cursor": cursor} if cursor else {}, timeout=timeout)
            except McpError as error:
                if error.code == METHOD_NOT_FOUND:
                    break
                raise
            found[kind].extend(item for item in page.get(key) or () if isinstance(item, dict))
            cursor = page.get("nextCursor")
            if not cursor:
                break
    return found


def upstream_instance(session) -> str | None:
    meta = session.server.get("_meta")
    found = meta.get(INSTANCE_META) if isinstance(meta, Mapping) else None
    return found if isinstance(found, str) else None


def marked(definition: Mapping[str, Any], own: str, upstream: str | None, *, keep_name: bool) -> dict | None:
    """The definition to store, its path extended by the upstream; None when it came from `own`."""
    body = {key: value for key, value in definition.items() if keep_name or key != "name"}
    meta = body.get("_meta") if isinstance(body.get("_meta"), dict) else {}
    path = (
        [hop for hop in meta.get(PATH_META) or () if isinstance(hop, str)]
        if isinstance(meta.get(PATH_META), list)
        else []
    )
    if own in path:
        return None
    if upstream:
        path.append(upstream)
    if path:
        body["_meta"] = {**meta, PATH_META: path}
    return body


def name_for(record: Mapping[str, Any], original: str, taken: set[str]) -> str | None:
    prefix = record["prefix"] if record.get("prefix") is not None else record["name"]
    for candidate in (f"{prefix}.{original}" if prefix else original, f"{record['name']}.{original}"):
        if candidate not in taken:
            return candidate
    return None


def tool_values(definition: dict) -> dict:
    schema = definition.get("inputSchema")
    return {
        "description": definition.get("description"),
        "integration_type": FEDERATED,
        "input_schema": schema if isinstance(schema, dict) else {},
        "output_schema": definition.get("outputSchema")
        if isinstance(definition.get("outputSchema"), dict)
        else None,
        "annotations": definition.get("annotations")
        if isinstance(definition.get("annotations"), dict)
        else {},
        "definition": definition,
    }


def prompt_values(definition: dict) -> dict:
    properties, required = {}, []
    for argument in definition.get("arguments") or ():
        if isinstance(argument, dict) and isinstance(argument.get("name"), str):
            spec: dict[str, Any] = {"type": "string"}
            if argument.get("description"):
                spec["description"] = argument["description"]
            properties[argument["name"]] = spec
            if argument.get("required"):
                required.append(argument["name"])
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    # Forge never renders an imported prompt: prompts/get goes upstream.
    return {
        "description": definition.get("description"),
        "template": "",
        "argument_schema": schema,
        "definition": definition,
    }


def resource_values(definition: dict, uri: str, is_template: bool) -> dict:
    return {
        "uri": uri,
        "name": definition.get("name") if isinstance(definition.get("name"), str) else uri,
        "description": definition.get("description"),
        "mime_type": definition.get("mimeType") if isinstance(definition.get("mimeType"), str) else None,
        "is_template": is_template,
        "definition": definition,
    }


class Import:
    """One sync of one gateway: `run()` writes the differences and answers whether any were made."""

    def __init__(self, store, record: Mapping[str, Any], own_instance: str, pinning: Pinning | None = None):
        self.store = store
        self.pinning = pinning  # None: imported tools follow the upstream unreviewed
        self.record = record
        self.own = own_instance
        self.warnings: list[str] = []
        self.changed = False

    async def run(self, session, timeout: float, writing: asyncio.Lock) -> bool:
        """Fetch what the upstream offers, then, holding `writing` (one import writes at a time, so
        two upstreams' same names are settled in turn), write the differences."""
        upstream = upstream_instance(session)
        if upstream == self.own:
            raise SelfLoop("this gateway leads back to this Forge itself; nothing is imported from it")
        lists = await offered(session, timeout)
        async with writing:
            await self._write_all(lists, upstream)
        return self.changed

    async def _write_all(self, lists: dict[str, list[dict]], upstream: str | None) -> None:
        await self._named("tools", lists["tools"], upstream, tool_values)
        await self._named("prompts", lists["prompts"], upstream, prompt_values)
        await self._resources(lists["resources"], lists["templates"], upstream)

    async def _rows(self, kind: str, **filters) -> list[dict]:
        rows, _ = await self.store.list(kind, offset=0, limit=ALL, filters=filters or None)
        return rows

    async def _named(self, kind: str, definitions: list[dict], upstream: str | None, values_of) -> None:
        mine = {row["original_name"]: row for row in await self._rows(kind, gateway_id=self.record["id"])}
        mine_ids = {row["id"] for row in mine.values()}
        taken = {row["name"] for row in await self._rows(kind) if row["id"] not in mine_ids}
        seen: set[str] = set()
        for definition in definitions:
            original = definition.get("name")
            if not isinstance(original, str) or not original or original in seen:
                continue
            seen.add(original)
            body = marked(definition, self.own, upstream, keep_name=False)
            if body is None:
                continue  # it came through this Forge: importing it back would loop
            name = name_for(self.record, original, taken)
            if name is None:
                self.warnings.append(
                    f"{kind[:-1]} {original!r} skipped: its names are taken by other entities"
                )
                continue
            taken.add(name)
            values = {
                **values_of(body),
                "name": name,
                "original_name": original,
                "gateway_id": self.record["id"],
            }
            current = mine.pop(original, None)
            if kind == "tools":
                values = self._pinned(current, values)
            await self._write(kind, current, values, original)
        for row in mine.values():
            await self._delete(kind, row)

    def _pinned(self, current: dict | None, values: dict) -> dict:
        """The tool's values with its pinning decided: what the upstream offers, or, when that
        differs from the approved definition, only the fields that are not pinned."""
        if self.pinning is None:
            return {**values, "pin_status": None, "pinning": None}
        fingerprint = definition_hash(values["definition"], values["original_name"])
        if current is None:
            return self.pinning.first_seen(values, fingerprint)
        decided = self.pinning.seen_again(current, values, fingerprint)
        if decided.get("pin_status") == CHANGED and current.get("pin_status") != CHANGED:
            log.warning(
                "federation: tool %r changed upstream (gateway %r); %s until an administrator approves it "
                "(POST /tools/%s/approve)",
                values["name"],
                self.record["name"],
                "it is withheld" if decided["pinning"]["withheld"] else "the approved definition is served",
                current["id"],
            )
        return decided

    async def _resources(self, resources: list[dict], templates: list[dict], upstream: str | None) -> None:
        mine = {row["uri"]: row for row in await self._rows("resources", gateway_id=self.record["id"])}
        mine_ids = {row["id"] for row in mine.values()}
        taken = {row["uri"] for row in await self._rows("resources") if row["id"] not in mine_ids}
        offers = [(item.get("uri"), item, False) for item in resources] + [
            (item.get("uriTemplate"), item, True) for item in templates
        ]
        seen: set[str] = set()
        for uri, definition, is_template in offers:
            if not isinstance(uri, str) or not uri or uri in seen:
                continue
            seen.add(uri)
            body = marked(definition, self.own, upstream, keep_name=True)
            if body is None:
                continue
            if uri in taken:
                self.warnings.append(f"resource {uri!r} skipped: another entity has that URI")
                continue
            values = {**resource_values(body, uri, is_template), "gateway_id": self.record["id"]}
            await self._write("resources", mine.pop(uri, None), values, uri)
        for row in mine.values():
            await self._delete("resources", row)

    async def _write(self, kind: str, current: dict | None, values: dict, label: str) -> None:
        try:
            if current is None:
                await self.store.create(kind, values)
                self.changed = True
                return
            changes = {key: value for key, value in values.items() if current.get(key) != value}
            if changes:
                await self.store.update(kind, current["id"], changes)
                self.changed = True
        except Conflict as conflict:  # taken meanwhile (a write through the API): next sync retries
            self.warnings.append(f"{kind[:-1]} {label!r} skipped: {conflict}")

    async def _delete(self, kind: str, row: dict) -> None:
        try:
            await self.store.delete(kind, row["id"], force=True)  # gone upstream: out of virtual servers too
            self.changed = True
        except NotFound:
            pass
