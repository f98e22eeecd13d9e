"""What importing a catalog document would change, decided before anything is written.

Layer: api, between the document readers (`forge.services.catalog_io`) and the writes
(`forge.api.import_plan`). Entities are matched with the catalog by natural key (a tool's name,
a resource's URI...). One equal to what the catalog holds is unchanged, whatever `on_conflict`
says, so importing a document twice changes nothing the second time. A different one is skipped,
updated, or created under a new name, as `on_conflict` asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forge.api.errors import ApiError
from forge.api.import_plan import MEMBER_KINDS, Change, changed_fields, validated
from forge.services.catalog_io import NATURAL_KEYS, WRITE_ORDER, Incoming

ON_CONFLICT = ("skip", "update", "rename")


def empty_report() -> dict[str, Any]:
    sections = ("created", "updated", "unchanged", "skipped", "renamed")
    return {section: {kind: [] for kind in WRITE_ORDER} for section in sections} | {"warnings": []}


class CatalogPlan:
    def __init__(self, snapshot: Mapping[str, list[dict]], incoming: Incoming, on_conflict: str):
        self.incoming, self.on_conflict = incoming, on_conflict
        self.existing = {
            kind: {e[NATURAL_KEYS[kind]]: e for e in snapshot.get(kind, [])} for kind in WRITE_ORDER
        }
        self.keys_by_id = {
            kind: {e["id"]: key for key, e in self.existing[kind].items()} for kind in WRITE_ORDER
        }
        self.final_key: dict[str, dict[str, str]] = {
            kind: {} for kind in WRITE_ORDER
        }  # doc key -> key written
        self.changes: list[Change] = []
        self.problems: list[dict] = []
        self.report = empty_report()
        self.report["warnings"] = list(incoming.warnings)

    def build(self) -> CatalogPlan:
        for kind in WRITE_ORDER:
            seen: set[str] = set()
            for index, entry in enumerate(self.incoming.entities.get(kind, [])):
                self._entity(kind, index, dict(entry), seen)
        if self.problems:
            raise ApiError(
                422,
                "invalid_document",
                f"the document has {len(self.problems)} problem(s); nothing was imported",
                self.problems,
            )
        return self

    def _entity(self, kind: str, index: int, entry: dict, seen: set[str]) -> None:
        where = f"{kind}[{index}]"
        key_name = NATURAL_KEYS[kind]
        key = entry.get(key_name)
        if key in seen:
            self.problems.append(
                {"field": f"{where}.{key_name}", "message": f"{key!r} appears twice in the document"}
            )
            return
        seen.add(key)
        original_name = entry.pop("original_name", None) if kind == "tools" else None
        members = {k: entry.pop(k, None) or [] for k in MEMBER_KINDS} if kind == "servers" else None
        masked = [name for name, value in (entry.get("headers") or {}).items() if value is None]
        if masked:
            entry["headers"] = {name: value for name, value in entry["headers"].items() if value is not None}
        values = validated(kind, entry, {}, where, self.problems)
        if members is not None:
            members = self._members(members, where)
        if values is None:
            return
        if original_name:
            values["original_name"] = str(original_name)[:255]
        label = f"{kind[:-1]} {key!r}"
        before = self.existing[kind].get(key)
        if before is None:
            self._drop_masked(masked, label)
            self._add(Change(kind, "create", key, values, members=members), "created")
            self.final_key[kind][key] = key
            return
        self.final_key[kind][key] = key
        update = validated(kind, entry, before, where, self.problems) or {}
        if masked:  # keep the values the catalog already holds for headers the document left out
            kept = {name: before["headers"][name] for name in masked if name in (before.get("headers") or {})}
            self._drop_masked([name for name in masked if name not in kept], label)
            update["headers"] = {**update.get("headers", {}), **kept}
            values["headers"] = dict(update["headers"])
        if original_name:
            update["original_name"] = values["original_name"]
        fields = changed_fields(update, before)
        if members is not None and self._member_keys(before) != members:
            fields.append("members")
        if not fields:
            self.report["unchanged"][kind].append(key)
        elif before.get("gateway_id") and self.on_conflict != "rename":
            self.report["skipped"][kind].append(key)
            self.report["warnings"].append(f"{label} was skipped: the catalog's one belongs to a gateway")
        elif self.on_conflict == "skip":
            self.report["skipped"][kind].append(key)
        elif self.on_conflict == "update":
            values = {name: update[name] for name in fields if name != "members"}
            self._add(Change(kind, "update", key, values, before, fields, members), "updated")
        elif kind == "resources":
            self.report["skipped"][kind].append(key)
            self.report["warnings"].append(
                f"{label} was skipped: a resource is its URI, which cannot be renamed"
            )
        else:
            new_key = self._free_key(kind, key)
            values[key_name] = new_key
            self.final_key[kind][key] = new_key
            self._add(Change(kind, "create", new_key, values, members=members), None)
            self.report["renamed"][kind].append({"from": key, "to": new_key})

    def _add(self, change: Change, section: str | None) -> None:
        self.changes.append(change)
        if section == "updated":
            self.report[section][change.kind].append({"name": change.key, "fields": change.fields})
        elif section:
            self.report[section][change.kind].append(change.key)

    def _drop_masked(self, names: list[str], label: str) -> None:
        if names:
            self.report["warnings"].append(
                f"{label}: header(s) {', '.join(names)} had their values left out of the export and were not set"
            )

    def _free_key(self, kind: str, key: str) -> str:
        taken = set(self.existing[kind]) | {c.key for c in self.changes if c.kind == kind}
        stem = f"{key}_imported"[:64] if kind == "tools" else f"{key}_imported"
        candidate, number = stem, 2
        while candidate in taken:
            candidate, number = f"{stem[: 60 if kind == 'tools' else None]}_{number}", number + 1
        return candidate

    def _members(self, references: Mapping[str, list], where: str) -> dict[str, list[str]]:
        """Member references resolved to the natural keys they will have; unknown ones are
        problems (a Forge document) or warnings (ContextForge's, which may name foreign ids)."""
        resolved: dict[str, list[str]] = {}
        for kind, listed in references.items():
            resolved[kind] = []
            if not isinstance(listed, list):
                self.problems.append({"field": f"{where}.{kind}", "message": "must be a list of names"})
                continue
            for position, reference in enumerate(listed):
                federated = isinstance(reference, Mapping)
                key = str(reference.get("name")) if federated else str(reference)
                key = self.final_key[kind].get(key, key)
                if key in self.final_key[kind].values() or key in self.existing[kind]:
                    resolved[kind].append(key)
                elif federated:
                    self.report["warnings"].append(
                        f"{where}: {kind[:-1]} {key!r} of gateway {reference.get('gateway')!r} is not in the catalog "
                        "yet; add it to the server once the gateway has connected"
                    )
                elif self.incoming.strict_references:
                    self.problems.append(
                        {"field": f"{where}.{kind}[{position}]", "message": f"unknown {kind[:-1]} {key!r}"}
                    )
                else:
                    self.report["warnings"].append(
                        f"{where}: unknown {kind[:-1]} {key!r} left out of the server"
                    )
            resolved[kind] = sorted(set(resolved[kind]))
        return resolved

    def _member_keys(self, server: Mapping[str, Any]) -> dict[str, list[str]]:
        return {
            kind: sorted(
                self.keys_by_id[kind][i]
                for i in server.get(f"{kind[:-1]}_ids") or ()
                if i in self.keys_by_id[kind]
            )
            for kind in MEMBER_KINDS
        }
