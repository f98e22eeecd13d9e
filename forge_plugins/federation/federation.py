"""The federation of one Forge: its upstreams, their health, their catalogs, its peers.

Layer: plugin, the top of it; `forge_plugins.federation` (the hooks) builds one `Federation` per
gateway and calls it, and it holds one `Upstream` per enabled gateway record. It records what it
learns on the gateway row (state "healthy"/"unhealthy", last_seen, last_error, latency_ms and, in
`capabilities`, the upstream's revision, serverInfo and capabilities); the kernel's catalog hides
the entities of a gateway that is disabled or unhealthy, so a rebuilt catalog announces them
leaving and coming back. Two loops run: health checks every FEDERATION_HEALTH_INTERVAL, and a
full re-import every FEDERATION_SYNC_INTERVAL (besides the upstream's own list_changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from forge.outbound import OutboundPolicy
from forge.services.pinning import write_lock
from forge.store.models import utcnow
from forge.store.repository import Conflict, NotFound
from forge_plugins.federation.connectors import Connectors
from forge_plugins.federation.forwarding import FederationAdapter
from forge_plugins.federation.importer import ALL, Import
from forge_plugins.federation.pinning import Pinning
from forge_plugins.federation.settings import instance_id, settings_of
from forge_plugins.federation.upstream import NoConnector, Upstream, UpstreamFailure
from forge_plugins.federation.wire import INSTANCE_META, client_info

log = logging.getLogger("forge.federation")
# A change to one of these reconnects a gateway; a change to its name or prefix re-imports it.
CONNECTION_FIELDS = ("url", "transport", "headers")


class Federation:
    def __init__(self, gateway):
        self.gateway = gateway
        self.settings = settings_of(gateway)
        self.instance_id = instance_id(gateway)
        self.timeout = gateway.settings.federation_timeout
        self.connectors = Connectors(
            client_info(gateway.settings.app_name), self.timeout, OutboundPolicy.of(gateway.settings)
        )
        self.adapter = FederationAdapter(self)
        self.upstreams: dict[str, Upstream] = {}
        self._loops: list[asyncio.Task] = []
        self.writing = write_lock(gateway)  # imports (and pinning decisions) write one at a time
        self.pinning = (
            Pinning(on_change=self.settings.on_tool_change, require_approval=self.settings.require_approval)
            if self.settings.pin_tools
            else None
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.gateway.server_meta[INSTANCE_META] = self.instance_id
        await self._register_peers()
        records, _ = await self.gateway.store.list("gateways", offset=0, limit=ALL)
        for record in records:
            if record["enabled"]:
                self._open(record)  # in the background: start-up never waits on an upstream
        self._loops = [
            asyncio.create_task(
                self._every(self.settings.health_interval, self._check_all), name="federation:health"
            ),
            asyncio.create_task(
                self._every(self.gateway.settings.federation_sync_interval, self._sync_all),
                name="federation:sync",
            ),
        ]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await asyncio.gather(
            *(upstream.stop() for upstream in self.upstreams.values()), return_exceptions=True
        )
        self.upstreams.clear()

    async def _every(self, seconds: float, work) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                log.exception("federation: %s failed", work.__name__)

    async def _check_all(self) -> None:
        await asyncio.gather(*(upstream.check() for upstream in list(self.upstreams.values())))

    async def _sync_all(self) -> None:
        for upstream in list(self.upstreams.values()):
            await upstream.sync()

    # --- gateway records written through the API ------------------------------------------------

    async def written(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
        """React to a created, changed or deleted gateway (`forge_after_entity_write`). A new or
        reconnected gateway is waited for (its first connection and import), at most
        FEDERATION_TIMEOUT, so the answer to the POST already reflects it."""
        record_id = (after or before)["id"]
        current = self.upstreams.get(record_id)
        if after is None or not after["enabled"]:
            if current is not None:
                await self.upstreams.pop(record_id).stop()
            return
        if current is not None and all(before.get(key) == after.get(key) for key in CONNECTION_FIELDS):
            current.record = dict(after)
            if (before.get("name"), before.get("prefix")) != (after.get("name"), after.get("prefix")):
                await current.sync()
            return
        if current is not None:
            await self.upstreams.pop(record_id).stop()
        await self._open(after).first_attempt(self.timeout + 5)

    def _open(self, record: Mapping[str, Any]) -> Upstream:
        upstream = Upstream(self, record)
        self.upstreams[record["id"]] = upstream
        upstream.start()
        return upstream

    def connector_for(self, record: Mapping[str, Any]):
        connect = self.gateway.upstream_connectors.get(record["transport"])
        if connect is None:
            installed = ", ".join(sorted(self.gateway.upstream_connectors)) or "none"
            raise NoConnector(
                f"no installed plugin connects {record['transport']!r} upstreams (installed: {installed})"
            )
        return connect

    def upstream_of(self, entity: Mapping[str, Any]) -> Upstream:
        upstream = self.upstreams.get(entity.get("gateway_id"))
        if upstream is None:
            raise UpstreamFailure(f"{entity.get('name')!r} comes from a gateway that is not connected")
        return upstream

    # --- what happens to an upstream ------------------------------------------------------------

    async def connected(self, upstream: Upstream, latency_ms: float) -> None:
        upstream.breaker.succeeded()
        session = upstream.session
        server = session.server
        meta = server.get("_meta") if isinstance(server.get("_meta"), Mapping) else {}
        described = {
            "protocolVersion": session.protocol_version,
            "serverInfo": server.get("serverInfo") or meta.get("io.modelcontextprotocol/serverInfo"),
            "capabilities": server.get("capabilities") or {},
            "instance": meta.get(INSTANCE_META),
        }
        fields = {
            "state": "healthy",
            "last_seen": utcnow(),
            "latency_ms": round(latency_ms, 1),
            "capabilities": described,
        }
        async with upstream.sync_lock:  # a list_changed arriving meanwhile waits for this import
            await self.import_catalog(upstream, session, announce=set(), fields=fields)

    async def import_catalog(self, upstream: Upstream, session, *, announce: set[str], fields=None) -> None:
        """Import the upstream's catalog, record `fields` and any warning on the gateway row, then
        rebuild the catalog; lists in `announce` are announced even when nothing changed."""
        job = Import(self.gateway.store, upstream.record, self.instance_id, self.pinning)
        changed = await job.run(session, self.timeout, self.writing)
        fields = dict(fields or {})
        warning = "; ".join(job.warnings) or None
        if warning != upstream.record.get("last_error") or fields:
            fields["last_error"] = warning
        if fields:
            changed |= await self._record(upstream, fields)
        if changed:
            previous = self.gateway.catalog
            await self.gateway.reload_catalog()
            announce -= self.gateway.catalog.changed_lists(previous)
        if announce:
            await self.gateway.engine.announce_list_changes(announce)

    async def lost(self, upstream: Upstream, error: str) -> None:
        if await self._record(upstream, {"state": "unhealthy", "last_error": error}):
            await self.gateway.reload_catalog()

    async def seen(self, upstream: Upstream, latency_ms: float) -> None:
        fields = {"last_seen": utcnow(), "latency_ms": round(latency_ms, 1), "state": "healthy"}
        if await self._record(upstream, fields):
            await self.gateway.reload_catalog()

    async def _record(self, upstream: Upstream, fields: Mapping[str, Any]) -> bool:
        """Write what changed of `fields` on the gateway row (nothing when nothing did, so a retry
        that fails as the last one did leaves the row alone); answer whether its state changed."""
        changes = {key: value for key, value in fields.items() if upstream.record.get(key) != value}
        if not changes:
            return False
        upstream.record.update(changes)
        try:
            await self.gateway.store.update("gateways", upstream.id, changes)
        except NotFound:
            return False  # deleted meanwhile; its hook stops this upstream
        return "state" in changes

    # --- peers ----------------------------------------------------------------------------------

    async def _register_peers(self) -> None:
        """FEDERATION_PEERS: each peer Forge's /mcp endpoint is a gateway, added once."""
        if not self.gateway.settings.federation_peers:
            return
        records, _ = await self.gateway.store.list("gateways", offset=0, limit=ALL)
        known = {record["url"] for record in records}
        for peer in self.gateway.settings.federation_peers:
            url = peer_url(peer)
            if url in known:
                continue
            name = peer_name(url)
            for attempt in range(1, 100):
                with contextlib.suppress(Conflict):
                    await self.gateway.store.create(
                        "gateways",
                        {
                            "name": name if attempt == 1 else f"{name}-{attempt}",
                            "url": url,
                            "transport": "streamable_http",
                            "description": "peer gateway (FEDERATION_PEERS)",
                        },
                    )
                    break
            known.add(url)


def peer_url(peer: str) -> str:
    url = peer.strip().rstrip("/")
    return url if urlsplit(url).path.endswith("/mcp") else f"{url}/mcp"


def peer_name(url: str) -> str:
    parts = urlsplit(url)
    return "peer-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{parts.hostname}-{parts.port or ''}").strip("-")
