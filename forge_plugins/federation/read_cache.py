"""Federated resource reads that their upstream marks cacheable, kept as long as it allows.

Layer: plugin, used by the forwarding adapter (`forwarding.FederationAdapter.read_resource`);
below it the gateway's cache (`forge_cache`: memory, or Redis with CACHE_TYPE=redis).

2026-07-28 lets a server say how long a `resources/read` answer stays good (`ttlMs`) and who may
share it (`cacheScope`). A complete answer with a positive integer `ttlMs` is kept for that long,
never longer than CACHE_TTL (0 turns this cache off, as it does for local reads): a "public" one
for every caller, a "private" one (or one that does not say: the safe reading) for one principal
on one endpoint (virtual server). Errors, `input_required` results, answers that took the
client's input, and hints of the wrong type are never kept.

An entry is found again only while it is what the upstream would answer: its key names the
upstream gateway, the imported resource's id and `updated_at` (a resync or an edit that changes
it starts afresh), the URI, and a marker that `Gateway.resource_updated` deletes when the
upstream says the resource changed (`notifications/resources/updated`), so subscribers re-reading
after that notification get the new contents.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from forge_plugins.federation.wire import for_handshake_client

PREFIX = "federated-read:"
ANONYMOUS = "-anonymous-"  # every unauthenticated caller is one principal (AUTH_REQUIRED=false)


def updated_marker_key(uri: str) -> str:
    """The cache key `Gateway.resource_updated(uri)` deletes: here it holds the current
    generation of `uri`'s entries, so deleting it orphans them all at once."""
    return f"resource:{uri}"


def lifetime_of(result: Any, cap: float) -> float | None:
    """Seconds Forge may keep an upstream's `resources/read` result, or None when it may not."""
    if not isinstance(result, Mapping) or result.get("resultType", "complete") != "complete":
        return None
    ttl_ms = result.get("ttlMs")
    if type(ttl_ms) is not int or ttl_ms <= 0:  # `type`, not isinstance: True is an int too
        return None
    return min(ttl_ms / 1000, cap)


def scope_of(result: Mapping[str, Any]) -> str:
    """"public" only when the upstream says so; anything else may differ between callers."""
    return "public" if result.get("cacheScope") == "public" else "private"


def subject_of(principal) -> str:
    """Who a private entry belongs to: how the caller authenticated and under which name."""
    if principal is None or principal.method == "anonymous":
        return ANONYMOUS
    return f"{principal.method}:{principal.name}"


class ReadCache:
    """The cacheable answers of one federation's upstreams, in the gateway's cache."""

    def __init__(self, gateway, clock: Callable[[], float] = time.time):
        self.gateway = gateway
        self.clock = clock  # wall time: entries in Redis are shared by every process
        # Gateways this process has seen answer a read it may keep: only their reads are looked up
        # (most upstreams never mark one cacheable, and each lookup may be a Redis round trip).
        self._keeping: set[Any] = set()

    async def answer(
        self, resource: Mapping[str, Any], uri: str, invocation
    ) -> tuple[dict | None, Callable | None]:
        """A kept answer shaped for the caller's era, or None and how to keep the fresh one
        (an async callable taking the upstream's raw result; None when nothing may be kept)."""
        cap = self.gateway.settings.cache_ttl
        if not cap or invocation is None or took_input(invocation):
            return None, None
        cache = self.gateway.cache
        marker = updated_marker_key(uri)
        generation = await cache.get(marker)
        if generation is None:
            generation = secrets.token_hex(8)
            await cache.set(marker, generation, ttl=2 * cap)  # outlives the entries made under it
        elif resource.get("gateway_id") in self._keeping:
            for scope in ("public", "private"):
                entry = await cache.get(self._key(generation, resource, uri, scope, invocation))
                found = self._fresh(entry)
                if found is not None:
                    return (found if invocation.modern else for_handshake_client(found)), None

        async def keep(result: dict) -> None:
            seconds = lifetime_of(result, cap)
            if seconds is None:
                return
            self._keeping.add(resource.get("gateway_id"))
            entry = {"result": dict(result), "kept_at": self.clock(), "seconds": seconds}
            key = self._key(generation, resource, uri, scope_of(result), invocation)
            await cache.set(key, entry, ttl=seconds)

        return None, keep

    def _fresh(self, entry: Any) -> dict | None:
        """The entry's result, its ttlMs lowered by the time it has been kept; None once past its
        lifetime (the cache's own expiry may lag a little)."""
        if not isinstance(entry, Mapping) or not isinstance(entry.get("result"), Mapping):
            return None
        age = max(0.0, self.clock() - entry.get("kept_at", 0))  # another replica's clock may run ahead
        if age >= entry.get("seconds", 0):
            return None
        result = dict(entry["result"])
        result["ttlMs"] = max(1, result["ttlMs"] - int(age * 1000))
        return result

    @staticmethod
    def _key(generation: str, resource: Mapping[str, Any], uri: str, scope: str, invocation) -> str:
        parts = [resource.get("gateway_id"), resource.get("id"), resource.get("updated_at"), uri]
        parts += [generation, scope]
        if scope == "private":
            parts += [subject_of(invocation.principal), invocation.server_id]
        # Hashed: values may hold any character, and Redis keys are best short.
        return PREFIX + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def took_input(invocation) -> bool:
    """A 2026-07-28 retry answers a request for input: its result depends on that answer."""
    return invocation.input_responses is not None or invocation.request_state is not None
