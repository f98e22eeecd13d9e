"""Planned catalog writes, checked first and applied together: how imports change the catalog.

Layer: api, over the store. An import (an OpenAPI document, a catalog document) first turns
everything it was given into `Change`s, each payload validated with the management API's own
models (`forge.api.entities.ENTITY_APIS`), so an import accepts exactly what the API would. Only
a plan without errors is applied. The store has no transaction spanning several entities, so
`apply` undoes the writes it made when a later one fails, and the catalog is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forge.api.entities import ENTITY_APIS
from forge.api.errors import ApiError
from forge.store.repository import NATURAL_KEYS

log = logging.getLogger("forge.api")
APIS = {api.kind: api for api in ENTITY_APIS}
MEMBER_KINDS = ("tools", "resources", "prompts")


@dataclass
class Change:
    """One write: `values` are store values; `members` (servers) name members per kind by
    natural key, turned into ids when the change is applied, after the members exist."""

    kind: str
    action: str  # "create", "update" or "delete"
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    before: dict | None = None
    fields: list[str] = field(default_factory=list)
    members: dict[str, list[str]] | None = None


def validated(
    kind: str, payload: Mapping[str, Any], before: dict, where: str, problems: list[dict]
) -> dict | None:
    """Store values for `payload`, as a POST (no `before`) or a PATCH of `before` would write them;
    None, with the reasons added to `problems`, when the API would refuse it."""
    api = APIS[kind]
    model = api.update_model if before else api.create_model
    try:
        return api.to_values(model.model_validate(dict(payload)), before)
    except ValidationError as error:
        for item in error.errors(include_url=False, include_context=False, include_input=False):
            place = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append({"field": f"{where}.{place}" if place else where, "message": message})
    except ApiError as error:
        for detail in error.details or [{"message": error.message}]:
            place = detail.get("field")
            problems.append({"field": f"{where}.{place}" if place else where, "message": detail["message"]})
    return None


def changed_fields(values: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    return [name for name, value in values.items() if before.get(name) != value]


async def apply(gateway, changes: list[Change], principal) -> None:
    """Make every change, in order; on a failure undo those made and raise. Then apply them to the
    in-memory catalog at once and react to each change as the API does (a resource's cached reads
    are dropped; plugins hear of it through `forge_after_entity_write`)."""
    store = gateway.store
    ids = await _ids_by_key(store)
    done: list[tuple[Change, dict | None]] = []
    try:
        for change in changes:
            if change.members is not None:
                change.values.update(
                    {
                        f"{kind[:-1]}_ids": [ids[kind][key] for key in keys]
                        for kind, keys in change.members.items()
                    }
                )
            if change.action == "create":
                after = await store.create(change.kind, change.values)
                ids[change.kind][after[NATURAL_KEYS[change.kind]]] = after["id"]
            elif change.action == "update":
                after = await store.update(change.kind, change.before["id"], change.values)
            else:
                await store.delete(change.kind, change.before["id"])
                after = None
            done.append((change, after))
    except Exception:
        await _undo(store, done)
        raise
    if done:
        await gateway.apply_catalog_changes(
            (change.kind, (after or change.before)["id"], after) for change, after in done
        )
    for change, after in done:  # what the API's own writes do after each (`forge.api.crud`)
        after_write = APIS[change.kind].after_write
        if after_write is not None:
            await after_write(gateway, change.before, after)
        await gateway.entity_written(change.kind, change.before, after, principal)


async def _ids_by_key(store) -> dict[str, dict[str, str]]:
    snapshot = await store.snapshot()
    return {kind: {e[NATURAL_KEYS[kind]]: e["id"] for e in entities} for kind, entities in snapshot.items()}


async def _undo(store, done: list[tuple[Change, dict | None]]) -> None:
    for change, after in reversed(done):
        try:
            if change.action == "create":
                await store.delete(change.kind, after["id"], force=True)
            elif change.action == "update":
                restore = {name: change.before[name] for name in change.values if name in change.before}
                await store.update(change.kind, change.before["id"], restore)
            else:
                await store.create(change.kind, change.before)
        except Exception:
            log.exception("could not undo the import's %s of %s %r", change.action, change.kind, change.key)
