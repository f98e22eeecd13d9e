"""The federation of one Forge: its upstreams, their health, their catalogs, its peers.

Layer: plugin, the top of it; `forge_plugins.federation` (the hooks) builds one `Federation` per
gateway and calls it, and it holds one `Upstream` per enabled gateway record. It records what it
learns on the gateway row (state "healthy"/"unhealthy", last_seen, last_error, latency_ms and, in
`capabilities`, the upstream's revision, serverInfo and capabilities); the kernel's catalog hides
the entities of a gateway that is disabled or unhealthy, so a rebuilt catalog announces them
leaving and coming back. Two loops run: health checks every FEDERATION_HEALTH_INTERVAL, and a
full re-import every FEDERATION_SYNC_INTERVAL (besides the upstream's own list_changed).

Several processes on one database and Redis (`leadership`): every process connects to every
enabled gateway (it forwards its own clients' calls) and keeps those connections in step with the
gateway rows of its catalog, wherever they were written; only the leader imports, writes health
and registers peers. A follower whose connection drops reconnects as the leader would, keeping
the error to itself (calls through it fail naming it) and leaving the row to the leader. The one
exception: the process answering POST/PUT /gateways does that gateway's first connection and
import itself, leader or not, so the answer reflects them; the leader's own import, when it
connects, then finds nothing left to change.
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
from forge_plugins.federation.leadership import Leadership
from forge_plugins.federation.pinning import Pinning
from forge_plugins.federation.settings import instance_id, settings_of
from forge_plugins.federation.upstream import NoConnector, Upstream, UpstreamFailure
from forge_plugins.federation.wire import INSTANCE_META, client_info

log = logging.getLogger("forge.federation")
# A change to one of these reconnects a gateway; a change to its name or prefix re-imports it.
CONNECTION_FIELDS = ("url", "transport", "headers")
NAMING_FIELDS = ("name", "prefix")
# What this plugin writes on a gateway row (the rest comes from the API).
OBSERVED_FIELDS = ("state", "last_seen", "last_error", "latency_ms", "capabilities")


class Federation:
    def __init__(self, gateway):
        self.gateway = gateway
        self.settings = settings_of(gateway)
        self.instance_id = instance_id(gateway)
        self.timeout = gateway.settings.federation_timeout
        self.connectors = Connectors(
            client_info(gateway.settings.app_name),
            self.timeout,
            OutboundPolicy.of(gateway.settings),
            gateway.settings.upstream_max_response_bytes,
        )
        self.adapter = FederationAdapter(self)
        self.upstreams: dict[str, Upstream] = {}
        self._loops: list[asyncio.Task] = []
        self._catching_up: set[asyncio.Task] = set()  # a new leader's checks and syncs, off its loop
        self.leadership = Leadership(gateway.cluster, self.settings.leader_lease)  # replaced at start
        self.writing = write_lock(gateway)  # imports (and pinning decisions) write one at a time
        self.pinning = (
            Pinning(on_change=self.settings.on_tool_change, require_approval=self.settings.require_approval)
            if self.settings.pin_tools
            else None
        )

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """Whether this process imports, records health and syncs (always, alone)."""
        return self.leadership.leading

    async def start(self) -> None:
        self.gateway.server_meta[INSTANCE_META] = self.instance_id
        # The cluster is the gateway's from `configure` on; this object may be older.
        self.leadership = Leadership(self.gateway.cluster, self.settings.leader_lease)
        if self.gateway.cluster.shared:
            await self.leadership.elect()  # the first process up leads from the start
        if self.leading:
            await self._register_peers()
        records, _ = await self.gateway.store.list("gateways", offset=0, limit=ALL)
        for record in records:
            if record["enabled"]:
                self._open(record)  # in the background: start-up never waits on an upstream
        if self.gateway.cluster.shared:
            self._loops.append(asyncio.create_task(self._lead(), name="federation:leader"))
        self._loops += [
            asyncio.create_task(
                self._every(self.settings.health_interval, self._check_all), name="federation:health"
            ),
            asyncio.create_task(
                self._every(self.gateway.settings.federation_sync_interval, self._sync_all),
                name="federation:sync",
            ),
        ]

    async def stop(self) -> None:
        tasks = [*self._loops, *self._catching_up]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        await self.leadership.release()
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
        if not self.leading:
            return  # the leader's sync reaches this process's catalog through the cluster
        for upstream in list(self.upstreams.values()):
            await upstream.sync()

    # --- many processes: one leads ---------------------------------------------------------------

    async def _lead(self) -> None:
        """Renew (or try to take) the lease every third of it, and follow the gateway rows.
        Nothing slow runs in this loop (an upstream's answer can take FEDERATION_TIMEOUT, longer
        than the lease): a new leader catches up in a task of its own."""
        while True:
            await asyncio.sleep(self.leadership.renew_seconds)
            try:
                if await self.leadership.elect():
                    self._in_background(self._take_over())
                else:
                    await self._follow(self.gateway.catalog.entities["gateways"])
            except Exception:
                log.exception("federation: leading or following failed")

    async def _take_over(self) -> None:
        """This process has just become the leader: catch up on what nobody did while the lease
        was free. Rows are read afresh (this process's copies hold what it saw, not what the last
        leader wrote), then every upstream is checked and synced at once."""
        try:
            await self._register_peers()
            records, _ = await self.gateway.store.list("gateways", offset=0, limit=ALL)
            await self._follow({record["id"]: record for record in records}, refresh=True)
            await self._check_all()
            await self._sync_all()
        except Exception:
            log.exception("federation: catching up as the new leader failed")

    async def _follow(self, records: Mapping[str, Mapping[str, Any]], *, refresh: bool = False) -> None:
        """Keep this process's upstreams in step with the gateway rows (`records` by id), which
        another process may have written: open new ones, stop deleted or disabled ones, reconnect
        changed ones, take their other changes (a new name or prefix). What this process observed
        of each (state, last error...) stays its own unless `refresh`: a new leader takes the rows'
        as they are, so that it then writes whatever differs from them."""
        for record_id in list(self.upstreams):
            record = records.get(record_id)
            if record is None or not record["enabled"]:
                gone = self.upstreams.pop(record_id, None)  # None: the API's own hook stopped it meanwhile
                if gone is not None:
                    await gone.stop()
        for record_id, record in records.items():
            if not record["enabled"]:
                continue
            current = self.upstreams.get(record_id)
            if current is None:
                self._open(record)
            elif any(current.record.get(key) != record.get(key) for key in CONNECTION_FIELDS):
                await self.upstreams.pop(record_id).stop()
                self._open(record)
            elif refresh:
                current.record = dict(record)
            else:
                renamed = any(current.record.get(key) != record.get(key) for key in NAMING_FIELDS)
                given = {key: value for key, value in record.items() if key not in OBSERVED_FIELDS}
                current.record.update(given)
                if renamed and self.leading:  # renamed through another process: keep the names it chose
                    self._in_background(current.sync())

    def _in_background(self, work) -> None:
        task = asyncio.create_task(work)
        self._catching_up.add(task)
        task.add_done_callback(self._catching_up.discard)

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
        unchanged = before is not None and all(before.get(key) == after.get(key) for key in CONNECTION_FIELDS)
        if current is not None and unchanged:
            current.record = dict(after)
            if any(before.get(key) != after.get(key) for key in NAMING_FIELDS):
                await current.sync()
            return
        if current is not None:
            await self.upstreams.pop(record_id).stop()
        # This process answers the request: it records the first attempt, leader or not.
        await self._open(after, answering=True).first_attempt(self.timeout + 5)

    def _open(self, record: Mapping[str, Any], *, answering: bool = False) -> Upstream:
        upstream = Upstream(self, record)
        upstream.answering = answering
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

    def writes_for(self, upstream: Upstream) -> bool:
        """Whether this process writes what it learns of `upstream`: the leader does, and so does
        the process answering the API request that opened it, for that first attempt."""
        return self.leading or upstream.answering

    async def connected(self, upstream: Upstream, latency_ms: float) -> None:
        upstream.breaker.succeeded()
        if not self.writes_for(upstream):
            return  # a follower: the leader imports, and this catalog follows its writes
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
        if not self.writes_for(upstream):
            return False  # a follower keeps what it saw (calls name its error); the row is the leader's
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
                    created = await self.gateway.store.create(
                        "gateways",
                        {
                            "name": name if attempt == 1 else f"{name}-{attempt}",
                            "url": url,
                            "transport": "streamable_http",
                            "description": "peer gateway (FEDERATION_PEERS)",
                        },
                    )
                    # In the catalogs (this one and the other processes'), which `_follow` keeps to.
                    await self.gateway.apply_catalog_changes([("gateways", created["id"], created)])
                    break
            known.add(url)


def peer_url(peer: str) -> str:
    url = peer.strip().rstrip("/")
    return url if urlsplit(url).path.endswith("/mcp") else f"{url}/mcp"


def peer_name(url: str) -> str:
    parts = urlsplit(url)
    return "peer-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{parts.hostname}-{parts.port or ''}").strip("-")
