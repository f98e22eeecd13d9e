"""Deciding on an imported tool's pinned definition: approve what the upstream now offers, or
reject it and keep the approved one.

Layer: services, over the store and the in-memory catalog. The federation plugin detects changes
and records them on the tool row (`pin_status`, `pinning`: see `forge_plugins.federation.pinning`);
its API and the admin UI decide through `decide`, under `write_lock`, the lock imports also hold,
so a sync never writes over a decision it did not see.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from forge.store.models import utcnow
from forge.store.repository import Conflict

APPROVED, CHANGED, NEW, REJECTED = "approved", "changed", "new", "rejected"
AWAITING = (CHANGED, NEW)  # what waits for an administrator
# Which states each verdict applies to.
DECIDABLE = {"approve": (CHANGED, NEW, REJECTED), "reject": (CHANGED, NEW)}
_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class NothingToDecide(Conflict):
    code = "nothing_to_decide"


def write_lock(gateway) -> asyncio.Lock:
    """The gateway's lock for writes of imported tools (imports and decisions): one at a time."""
    lock = _locks.get(gateway)
    if lock is None:
        lock = _locks[gateway] = asyncio.Lock()
    return lock


def approval(current: dict[str, Any], decided_by: str | None) -> dict:
    """The changes that make the pending definition the approved, served one."""
    state = current.get("pinning") or {}
    return {
        **(state.get("pending") or {}),
        "pin_status": APPROVED,
        "pinning": {"approved_hash": state.get("pending_hash"), **_decided(decided_by)},
    }


def rejection(current: dict[str, Any], decided_by: str | None) -> dict:
    """The changes that keep the approved definition served (a tool never approved stays withheld)
    and remember the refused one, so the next sync does not flag it again; a further change is."""
    state = dict(current.get("pinning") or {})
    state.update(withheld=state.get("approved_hash") is None, **_decided(decided_by))
    return {"pin_status": REJECTED, "pinning": state}


def _decided(decided_by: str | None) -> dict:
    decided = {"decided_at": utcnow().isoformat()}
    if decided_by:
        decided["decided_by"] = decided_by
    return decided


VERDICTS = {"approve": approval, "reject": rejection}


async def decide(gateway, tool_id: str, verdict: str, principal) -> dict:
    """Apply `verdict` ("approve" or "reject") to a tool awaiting one; answer the tool as stored.
    Raises `NotFound`, or `NothingToDecide` (409) when the tool has no pending definition."""
    store = gateway.store
    async with write_lock(gateway):
        before = await store.get("tools", tool_id)
        if before.get("pin_status") not in DECIDABLE[verdict]:
            state = before.get("pin_status") or "not pinned"
            raise NothingToDecide(f"tool {before['name']!r} has no pending definition to {verdict} (it is {state})")
        after = await store.update("tools", tool_id, VERDICTS[verdict](before, getattr(principal, "name", None)))
    await gateway.apply_catalog_changes([("tools", tool_id, after)])
    await gateway.entity_written("tools", before, after, principal)
    return await store.get("tools", tool_id)
