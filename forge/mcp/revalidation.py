"""Long-lived MCP connections re-checked against their credential: revoked or expired ones end.

Layer: protocol, over the `forge_credential_valid` hook; the gateway starts it, the transports and
the auth plugin call it. A WebSocket, a legacy SSE stream, a Streamable HTTP session and a
`subscriptions/listen` stream are authenticated once, when they open. Each of the first three is a
session of the engine's registry (`forge.mcp.channel` opens one per WebSocket and SSE stream), a
listen stream is a subscription of its hub, and each remembers its principal (a session also the
one holding its GET stream, `Session.stream_principal`); so one sweep over those two collections
reaches every long-lived connection, and ending one is what already ends it on shutdown: a closed
session's streams stop (a WebSocket closes with 1008 and `CREDENTIAL_GONE` when its session
records that reason), an ended subscription's stream stops. A Streamable HTTP session lives on the
credential of its latest request (`Session.renewable`): a client that refreshes its token keeps its
session, and one whose every token is revoked or expired gets 404 and initializes anew.

A sweep runs every AUTH_RECHECK_SECONDS (so an `exp` is noticed within that), and whenever a plugin
calls `sweep()`: the auth plugin does after a revocation, made here or read from another worker.
With no plugin implementing the hook, nothing is checked and no task runs.
"""

from __future__ import annotations

import asyncio
import logging

from forge.contracts import Principal
from forge.plugins import first_answer, implementations

log = logging.getLogger("forge.auth")

# Why a connection was ended: a WebSocket's close reason (at most 123 bytes), an HTTP error message.
CREDENTIAL_GONE = "the credential of this connection is no longer valid (revoked or expired)"


class CredentialWatch:
    """Asks whether principals still hold, and ends the open connections of those that do not."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.hook = gateway.hook.forge_credential_valid
        self.active = bool(implementations(self.hook))

    async def holds(self, principal: Principal) -> bool:
        """Whether the credential behind `principal` still holds (True when no plugin says otherwise)."""
        if not self.active:
            return True
        return await first_answer(self.hook, gateway=self.gateway, principal=principal) is not False

    async def sweep(self) -> int:
        """Check every open session and listen stream now; end those whose credential no longer
        holds. Answers how many were ended."""
        if not self.active:
            return 0
        engine = self.gateway.engine
        ended = 0
        # Sessions opened with one token share its principal: ask once a sweep for each (the
        # principal is kept with its verdict, so its id cannot be reused meanwhile).
        verdicts: dict[int, tuple[Principal, bool]] = {}

        async def holds(principal: Principal) -> bool:
            known = verdicts.get(id(principal))
            if known is None:
                known = verdicts[id(principal)] = (principal, await self.holds(principal))
            return known[1]

        for session in engine.sessions:
            held_by = (session.principal, session.stream_principal)
            if not all([await holds(principal) for principal in held_by if principal is not None]):
                ended += 1
                try:  # closed here first; a shared one is then deleted from the shared store
                    await engine.sessions.end(session.id, reason=CREDENTIAL_GONE)
                except Exception:
                    log.warning("could not drop session %s from the shared store", session.id, exc_info=True)
        for subscription in engine.subscriptions:
            if subscription.principal is not None and not await holds(subscription.principal):
                ended += 1
                engine.subscriptions.end(subscription)
        if ended:
            log.info("%d MCP connection(s) ended: their credential was revoked or has expired", ended)
        return ended

    async def sweep_periodically(self) -> None:
        """Run as a task (the gateway starts it only when `active`): a sweep every AUTH_RECHECK_SECONDS."""
        while True:
            await asyncio.sleep(self.gateway.settings.auth_recheck_seconds)
            try:
                await self.sweep()
            except Exception:  # a plugin failed answering: keep watching
                log.exception("re-checking the credentials of open MCP connections failed")
