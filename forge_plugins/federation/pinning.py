"""Tool-definition pinning: an imported tool is served as an administrator approved it, and a
definition the upstream changes afterwards ("rug pull") waits for approval.

Layer: plugin, used by `importer` at each sync; administrators decide through the kernel's
`forge.services.pinning` (`pinning_api`, the admin UI). Stored on the tool row by the kernel's
store: `pin_status` ("approved", "changed", "new", "rejected"; None for a tool nobody pins) and
`pinning`, a JSON object:

    approved_hash   sha256 of the approved definition (None while a new tool awaits approval)
    pending_hash    sha256 of the definition the upstream offers instead, when it differs
    pending         the stored values that definition would become (applied on approval)
    diff            a unified diff of the two definitions as pretty JSON
    fields          per changed field: {"before": ..., "after": ...}
    withheld        true while the tool is kept from MCP clients (the kernel's catalog hides it)
    detected_at, decided_at, decided_by

The approved definition itself is the row's `definition` (what `forge.catalog` serves). Only the
fields an agent reads to choose and call a tool are pinned (name, title, description, inputSchema,
outputSchema, annotations); `_meta` and the like follow the upstream freely.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from forge.services.pinning import APPROVED, CHANGED, NEW, REJECTED
from forge.store.models import utcnow

PINNED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
# What a tool's definition becomes in the store (`importer.tool_values`): held back while pending.
DEFINITION_VALUES = ("description", "integration_type", "input_schema", "output_schema", "annotations", "definition")


def pinned_view(definition: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The pinned fields of a definition, under the upstream `name` (stored bodies carry none)."""
    view = {key: definition[key] for key in PINNED_FIELDS if key in definition}
    view["name"] = name
    return view


def definition_hash(definition: Mapping[str, Any], name: str) -> str:
    canonical = json.dumps(pinned_view(definition, name), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def pretty(view: Mapping[str, Any]) -> list[str]:
    return json.dumps(view, sort_keys=True, indent=2, ensure_ascii=False).splitlines()


def changes(before: Mapping[str, Any], after: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What an administrator reviews: a unified diff and each changed field before and after."""
    old, new = pinned_view(before, name), pinned_view(after, name)
    diff = difflib.unified_diff(pretty(old), pretty(new), "approved", "upstream", lineterm="")
    fields = {
        key: {"before": old.get(key), "after": new.get(key)}
        for key in PINNED_FIELDS
        if old.get(key) != new.get(key)
    }
    return {"diff": "\n".join(diff), "fields": fields}


class Pinning:
    """Decides what one sync writes for one imported tool, given the pinning settings."""

    def __init__(self, *, on_change: str, require_approval: bool):
        self.on_change = on_change  # "keep" (serve the approved one) or "disable" (serve nothing)
        self.require_approval = require_approval

    def first_seen(self, values: dict, upstream_hash: str) -> dict:
        """A tool imported for the first time: approved on import, or withheld until approved."""
        if not self.require_approval:
            return {**values, "pin_status": APPROVED, "pinning": {"approved_hash": upstream_hash}}
        state = {"approved_hash": None, "pending_hash": upstream_hash, "withheld": True, "detected_at": stamp()}
        return {**values, "pin_status": NEW, "pinning": state}

    def seen_again(self, current: Mapping[str, Any], values: dict, upstream_hash: str) -> dict:
        """The values to write for a tool already stored (the importer writes only what differs)."""
        status, state = current.get("pin_status"), current.get("pinning") or {}
        approved = state.get("approved_hash")
        if status is None:  # imported before pinning was on: trusted on first sight
            return {**values, "pin_status": APPROVED, "pinning": {"approved_hash": upstream_hash}}
        if status == NEW:  # nothing approved yet: the row follows the upstream, still withheld
            return {**values, "pinning": {**state, "pending_hash": upstream_hash}}
        if upstream_hash == approved:  # unchanged, or changed back: whatever was pending is moot
            return {**values, "pin_status": APPROVED, "pinning": settled(state)}
        held = {key: value for key, value in values.items() if key not in DEFINITION_VALUES}
        if upstream_hash == state.get("pending_hash") and status in (CHANGED, REJECTED):
            return held  # already flagged (or already refused): nothing new to say
        pending = {key: values[key] for key in DEFINITION_VALUES if key in values}
        review = changes(current.get("definition") or {}, values["definition"], current["original_name"])
        flagged = {
            "approved_hash": approved,
            "pending_hash": upstream_hash,
            "pending": pending,
            **review,
            "withheld": self.on_change == "disable" or approved is None,
            "detected_at": stamp(),
        }
        return {**held, "pin_status": CHANGED, "pinning": flagged}


def settled(state: Mapping[str, Any]) -> dict:
    """Pinning state with nothing pending: the approved hash and who decided last."""
    return {key: state[key] for key in ("approved_hash", "decided_at", "decided_by") if state.get(key)}


def stamp() -> str:
    return utcnow().isoformat()
