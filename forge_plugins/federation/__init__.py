"""Forge plugin: federation of upstream MCP servers and peer Forge gateways.

A gateway record (POST /gateways, the admin UI, or FEDERATION_PEERS) names an upstream; this
plugin connects to it, imports its tools, prompts, resources and resource templates as entities
with the gateway's id, keeps them in step (the upstream's list_changed, a sync every
FEDERATION_SYNC_INTERVAL), checks its health every FEDERATION_HEALTH_INTERVAL, and serves what it
imported through the adapter of integration type "MCP", forwarding each call upstream.

Design (see the modules for each part):

- Upstream sessions. Forge speaks the stateless 2026-07-28 revision to every upstream that
  supports it. Over HTTP (`http_session`) that is one pooled aiohttp client per upstream and one POST
  per request, carrying the downstream client's own capabilities, log level and progressToken in
  its `_meta`; the answer stream of that POST belongs to that request alone, so progress and log
  notifications are relayed to the right client with no bookkeeping, and sampling, elicitation and
  roots arrive as `input_required` results: passed through verbatim to a 2026-07-28 client, asked
  of a handshake-era client by Forge itself (`Invocation.ask`) round after round. No upstream
  session is shared between downstream clients, which is what makes these relays exact.
  stdio, HTTP+SSE and handshake-only HTTP upstreams are one long-lived channel (`stream_session`)
  over the official SDK's client transports; there notifications and server-to-client requests are
  routed by progress token, else to the oldest call in flight that can take them.
- Names, loops, visibility: see `importer` (prefixes and collisions; the `io.forge/path` marker
  that keeps A→B→A from recursing) and `federation` (state on the gateway row; the kernel's
  catalog hides an unhealthy or disabled gateway's entities).
- Pinning: an imported tool is served as approved; a definition changed upstream waits for an
  administrator (`pinning`; `pinning_api`: GET /federation/changes, POST /tools/{id}/approve).
- Many processes (workers, replicas on one database and Redis): each connects to every upstream,
  one leads the imports, health checks and syncs (`leadership`, over the kernel's lease).

Hooks: `forge_settings_sections` (FEDERATION_HEALTH_INTERVAL, FEDERATION_BREAKER_*,
FEDERATION_LEADER_LEASE, FEDERATION_INSTANCE_ID), `forge_tool_adapters` ("MCP"), `forge_upstream_connectors`
(streamable_http, sse, stdio; "websocket" comes from the transport_ws plugin), `forge_startup`/`forge_shutdown`, `forge_after_entity_write`
(gateways), `forge_blueprints` (the pinning review), `forge_admin_panels` ("Federation"). With FEDERATION_ENABLED=false it contributes
nothing but its settings section. Peer discovery (FEDERATION_DISCOVERY, zeroconf) is not
implemented: peers are listed in FEDERATION_PEERS.
"""

from __future__ import annotations

import logging
import weakref

from forge.contracts import FEDERATED
from forge.hookspecs import hookimpl
from forge_plugins.federation.federation import Federation
from forge_plugins.federation.panel import panel
from forge_plugins.federation.pinning_api import pinning_blueprint
from forge_plugins.federation.settings import FederationSettings

log = logging.getLogger("forge.federation")
# One federation per gateway: the module is one plugin object, shared by every app in a process.
_federations: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def federation_of(gateway) -> Federation | None:
    """The gateway's federation, built on first use; None when FEDERATION_ENABLED=false."""
    if not gateway.settings.federation_enabled:
        return None
    found = _federations.get(gateway)
    if found is None:
        found = _federations[gateway] = Federation(gateway)
    return found


@hookimpl
def forge_settings_sections():
    return FederationSettings


@hookimpl
def forge_tool_adapters(gateway):
    federation = federation_of(gateway)
    return {FEDERATED: federation.adapter} if federation else None


@hookimpl
def forge_blueprints(gateway):
    federation = federation_of(gateway)
    return [pinning_blueprint(federation)] if federation else None


@hookimpl
def forge_upstream_connectors(gateway):
    federation = federation_of(gateway)
    return federation.connectors.registry() if federation else None


@hookimpl
def forge_startup(gateway):
    federation = federation_of(gateway)
    if federation is not None and gateway.settings.federation_discovery:
        log.warning("FEDERATION_DISCOVERY=true: discovery is not implemented; list peers in FEDERATION_PEERS")
    return federation.start() if federation else None


@hookimpl
def forge_shutdown(gateway):
    federation = federation_of(gateway)
    return federation.stop() if federation else None


@hookimpl
def forge_after_entity_write(gateway, kind, before, after, principal):
    federation = federation_of(gateway)
    if federation is None or kind != "gateways":
        return None
    return federation.written(before, after)


@hookimpl
def forge_admin_panels(gateway):
    federation = federation_of(gateway)
    return panel(federation) if federation else None
