"""The Gateway: the one object plugins are handed, holding settings, registries and running state.

Layer: kernel. Built by the app factory (`forge.app`), started and stopped with the server. It
owns the store and cache that plugins provide, the in-memory catalog (built from the store at
start, patched on every write), and the MCP engine that transports hand messages to.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pluggy

from forge.catalog import BULK_CHANGES, Catalog
from forge.cluster import Cluster, cluster_for, plugin_event
from forge.contracts import AdminPanel, Transport
from forge.mcp.engine import McpEngine
from forge.mcp.revalidation import CredentialWatch
from forge.plugins import PluginError, all_answers, call_implementation, first_answer, flatten, implementations, resolve
from forge.registry import answers_by_plugin, unique_registry
from forge.secrets import PLAINTEXT
from forge.services.metrics import ToolMetrics
from forge.settings import Settings, SettingsError, load_settings
from forge.store.repository import NotFound

log = logging.getLogger("forge")

DRAIN_POLL_SECONDS = 0.05  # while draining, how often sessions are checked for calls in flight
STOP_STEP_SECONDS = 10.0  # the longest one step of `Gateway.stop` may take


class Gateway:
    """Everything a running Forge knows. Plugins receive it as `gateway` in every hook."""

    def __init__(self, settings: Settings, pm: pluggy.PluginManager):
        self.settings = settings
        self.pm = pm
        self.hook = pm.hook
        self.plugin_settings: dict[str, Any] = {}
        self.store = None
        self.cache = None
        self.secret_codec = PLAINTEXT
        self.catalog = Catalog()
        # Other processes serving this gateway (workers, replicas): catalog changes and sessions.
        self.cluster: Cluster = Cluster()
        self.metrics = ToolMetrics()
        self.engine = McpEngine(self)
        # Ends open MCP connections whose credential was revoked or expired (`forge_credential_valid`).
        self.credential_watch = CredentialWatch(self)
        self.adapters: dict[str, Any] = {}
        self.transports: dict[str, Transport] = {}
        self.upstream_connectors: dict[str, Any] = {}
        self.admin_panels: list[AdminPanel] = []
        # Extra `_meta` of this server's initialize and server/discover results; plugins fill it
        # at start (federation names its instance there, so peers recognise it).
        self.server_meta: dict[str, Any] = {}
        self._catalog_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self.started = False
        self.draining = False

    # --- building (synchronous, at app creation) ------------------------------------------------

    def configure(self) -> None:
        """Read plugin settings and fill the registries from the hooks: no I/O happens here."""
        for section in flatten(self.hook.forge_settings_sections()):
            try:
                self.plugin_settings[section.__name__] = load_settings(section)
            except SettingsError as error:
                raise SettingsError(f"{section.__name__}: {error}") from None
        answers = answers_by_plugin(self.pm, "forge_secret_codec", gateway=self)
        self.secret_codec = answers[0][1] if answers else PLAINTEXT  # read by the store plugin
        self.store = self._one("forge_store", "an entity store (forge_store)")
        self.cache = self._one("forge_cache", "a cache (forge_cache)")
        self.cluster = cluster_for(self.settings)
        if self.cluster.shared:
            self.engine.sessions.store = self.cluster
        self.adapters = unique_registry(
            (
                (kind.upper(), adapter, plugin)
                for plugin, answer in answers_by_plugin(self.pm, "forge_tool_adapters", gateway=self)
                for kind, adapter in answer.items()
            ),
            "tool integration type",
        )
        transports = [
            (plugin, transport)
            for plugin, answer in answers_by_plugin(self.pm, "forge_transports", gateway=self)
            for transport in flatten([answer])
        ]
        self.transports = unique_registry(((t.name, t, p) for p, t in transports), "transport")
        self.upstream_connectors = unique_registry(
            (
                (name, connect, plugin)
                for plugin, answer in answers_by_plugin(self.pm, "forge_upstream_connectors", gateway=self)
                for name, connect in answer.items()
            ),
            "upstream transport",
        )
        panels = unique_registry(
            (
                (panel.id, panel, plugin)
                for plugin, answer in answers_by_plugin(self.pm, "forge_admin_panels", gateway=self)
                for panel in flatten([answer])
            ),
            "admin panel",
        )
        self.admin_panels = sorted(panels.values(), key=lambda panel: (panel.order, panel.title))
        self.engine.use_middleware(flatten(self.hook.forge_mcp_middleware(gateway=self)))

    def _one(self, hook_name: str, what: str):
        answers = answers_by_plugin(self.pm, hook_name, gateway=self)
        if not answers:
            raise PluginError(f"no plugin provides {what}; is a default plugin disabled?")
        return answers[0][1]

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        await self.cluster.start(self._changed_elsewhere)  # first, so no change is missed
        await self.reload_catalog(announce=False)
        for adapter in self.adapters.values():
            await adapter.start()
        await all_answers(self.hook.forge_startup, gateway=self)
        self._tasks.append(asyncio.create_task(self.metrics.flush_periodically(self.store)))
        if self.credential_watch.active:
            self._tasks.append(asyncio.create_task(self.credential_watch.sweep_periodically()))
        self.started = True
        log.info("Forge started: %d tools, %d plugins", len(self.catalog.all.tools), len(self.pm.get_plugins()))

    def drain(self) -> None:
        """Shutdown has begun (SIGTERM; `forge serve` calls this before the server stops
        listening): listen streams end at once, and each MCP session is closed, ending its GET
        stream, as soon as it has no call in flight. Calls still running go on; `stop`, after the
        server's grace period, closes what is left."""
        if self.draining:
            return
        self.draining = True
        log.info("shutting down: %d MCP session(s) close as their calls finish", len(self.engine.sessions))
        self.engine.subscriptions.end_all()
        self._tasks.append(asyncio.create_task(self._close_sessions_when_idle()))

    async def _close_sessions_when_idle(self) -> None:
        sessions = self.engine.sessions
        while True:
            for session in sessions:
                if not session.in_flight:
                    sessions.close(session.id)
            await asyncio.sleep(DRAIN_POLL_SECONDS)

    async def stop(self) -> None:
        """Close everything `start` opened, each step bounded and on its own: a step that fails
        or hangs (a plugin, an unreachable database or Redis) is logged and the next runs, so the
        store's connections (whose threads would keep the process alive) are always closed."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.engine.subscriptions.end_all()
        await self.engine.sessions.close_all()
        # One implementation at a time: were this stop cancelled, no plugin's coroutine is left
        # created and never awaited.
        for impl in implementations(self.hook.forge_shutdown):
            answer = call_implementation(impl, {"gateway": self})
            if asyncio.iscoroutine(answer) or isinstance(answer, asyncio.Future):
                await _bounded("a plugin's shutdown", answer)
        for name, adapter in self.adapters.items():
            await _bounded(f"closing the {name} tool adapter", adapter.aclose())
        await _bounded("saving tool metrics", self.metrics.flush(self.store))
        await _bounded("leaving the cluster channel", self.cluster.stop())
        await _bounded("closing the store", self.store.close())
        self.started = False

    # --- catalog --------------------------------------------------------------------------------

    async def reload_catalog(self, *, announce: bool = True, publish: bool = True) -> None:
        """Rebuild the in-memory catalog from the store and tell MCP sessions what list changed
        (and, with `announce` and `publish`, other processes serving this gateway to reload too).
        Reads every table: for start-up, syncs and bulk changes; one write is `apply_catalog_changes`."""
        async with self._catalog_lock:
            previous, fresh = self.catalog, Catalog(await self.store.snapshot())
            self.catalog = fresh
        if announce:
            await self.engine.announce_list_changes(fresh.changed_lists(previous))
            if publish:
                await self.cluster.publish({"type": "reload"})

    async def apply_catalog_changes(self, changes, *, announce: bool = True, publish: bool = True) -> set[str]:
        """Apply committed writes to the in-memory catalog without reading the store, and tell MCP
        sessions what list changed (once per list). `changes` holds (kind, entity id, the entity as
        the store answers it after the write, or None when deleted). Other processes serving this
        gateway are told which entities to re-read (`publish`). Answers the changed lists."""
        changes = list(changes)
        async with self._catalog_lock:  # after a reload in progress, never under it
            self.catalog, changed = self.catalog.with_changes(changes)
        if announce:
            await self.engine.announce_list_changes(changed)
        if publish and changes:  # many changes: one reload each, not thousands of reads
            await self.cluster.publish(
                {"type": "entities", "changes": [[kind, entity_id] for kind, entity_id, _ in changes]}
                if len(changes) <= BULK_CHANGES
                else {"type": "reload"}
            )
        return changed

    async def _changed_elsewhere(self, event: dict) -> None:
        """Apply what another process serving this gateway published (`forge.cluster`)."""
        kind = event.get("type")
        if kind == "entities":
            changes = []
            for entity_kind, entity_id in event.get("changes") or ():
                try:
                    changes.append((entity_kind, entity_id, await self.store.get(entity_kind, entity_id)))
                except NotFound:
                    changes.append((entity_kind, entity_id, None))
            await self.apply_catalog_changes(changes, publish=False)
        elif kind == "reload":
            await self.reload_catalog(publish=False)
        elif kind == "resource_updated":
            await self.engine.announce_resource_updated(event["uri"])
        elif kind == "session":
            self.engine.sessions.changed_elsewhere(event["id"], event.get("state"))
        elif kind == "plugin" and isinstance(event.get("topic"), str):
            await self._plugin_event_elsewhere(event["topic"], event.get("data"))

    async def _plugin_event_elsewhere(self, topic: str, data) -> None:
        """Hand a plugin's event to every `forge_cluster_event`, each on its own: one that fails
        is logged, and the others (and the next events) are still delivered."""
        kwargs = {"gateway": self, "topic": topic, "data": data}
        for impl in implementations(self.hook.forge_cluster_event):
            try:
                await resolve(call_implementation(impl, kwargs))
            except Exception:
                log.exception("plugin %s failed handling the cluster event %r", impl.plugin_name, topic)

    async def publish_cluster_event(self, topic: str, data) -> None:
        """Tell the other processes serving this gateway (CACHE_TYPE=redis: workers, replicas) of
        something, fire-and-forget: their `forge_cluster_event(gateway, topic, data)` is called;
        this process's is not. `data` must be JSON (TypeError otherwise). Alone, nobody is told."""
        await self.cluster.publish(plugin_event(topic, data))

    async def resource_updated(self, uri: str) -> None:
        """A resource's content changed: forget its cached reads and notify its subscribers."""
        await self.cache.delete(f"resource:{uri}")
        await self.engine.announce_resource_updated(uri)
        await self.cluster.publish({"type": "resource_updated", "uri": uri})

    async def entity_written(self, kind: str, before: dict | None, after: dict | None, principal) -> None:
        """Tell plugins about a committed catalog change (`forge_after_entity_write`)."""
        for answer in self.hook.forge_after_entity_write(
            gateway=self, kind=kind, before=before, after=after, principal=principal
        ):
            try:
                await resolve(answer)
            except Exception:
                log.exception("a plugin failed reacting to a change of %s", kind)

    # --- convenience for plugins ----------------------------------------------------------------

    async def first_answer(self, hook_name: str, **kwargs):
        return await first_answer(getattr(self.hook, hook_name), gateway=self, **kwargs)


async def _bounded(what: str, awaitable, seconds: float = STOP_STEP_SECONDS) -> None:
    """Await one shutdown step; a failure or a hang past `seconds` is logged, never raised."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        log.error("shutdown: %s took longer than %g s; going on without it", what, seconds)
    except Exception:
        log.exception("shutdown: %s failed", what)
