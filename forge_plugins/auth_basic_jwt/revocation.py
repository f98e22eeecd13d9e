"""The revoked-token list, held in memory so checking a token never reads the database.

Layer: plugin, over the store's `revoke_token` / `revoked_tokens` (table `revoked_tokens`,
migration 0003). Loaded at start-up; a revocation made here is in the set before the API
answers, and `on_revoke` tells the other processes at once (with CACHE_TYPE=redis: the cluster
event REVOKED, which their `told` applies); the periodic re-read (AUTH_REVOCATION_REFRESH seconds)
stays the safety net for an event lost while Redis was away. Either way `on_change` then ends the
open connections (WebSocket, streams) of the tokens revoked (the gateway's `credential_watch.sweep`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

log = logging.getLogger("forge.auth")
# What may be revoked, by the API and `forge token revoke` alike: printable ASCII, as any token's id
# is in practice, and no longer than the column.
JTI = re.compile(r"^[\x21-\x7e]{1,255}$")
# The cluster event of a revocation, published with `{"jti": jti}`.
REVOKED = "auth_basic_jwt.revoked"


class RevocationList:
    def __init__(self, refresh_seconds: float):
        self.refresh_seconds = refresh_seconds
        self.jtis: frozenset[str] = frozenset()
        self.store = None
        # Awaited when the list grows, here or read from the store: the gateway's sweep, which ends
        # the open connections of the tokens just revoked.
        self.on_change: Callable[[], Awaitable[object]] | None = None
        # Awaited with the jti of a revocation made here: tells the other processes (the gateway's
        # `publish_cluster_event`, or the command line's publish on REDIS_URL).
        self.on_revoke: Callable[[str], Awaitable[object]] | None = None

    def __contains__(self, jti: object) -> bool:
        return jti in self.jtis

    async def load(self, store) -> None:
        """Read the list; merged with what is known, so a revocation made while it was being read
        is kept (revocations are never undone)."""
        self.store = store
        known = self.jtis
        self.jtis = known | {record["jti"] for record in await store.revoked_tokens()}
        if self.jtis != known:
            await self._changed()

    async def revoke(self, jti: str, *, revoked_by: str | None, reason: str | None = None) -> dict:
        record = await self.store.revoke_token(jti, revoked_by=revoked_by, reason=reason)
        self.jtis = self.jtis | {jti}
        log.info("token %s revoked by %s", jti, revoked_by)
        await self._tell_others(jti)
        await self._changed()
        return record

    async def told(self, data: object) -> None:
        """Apply a revocation another process published (`REVOKED`): in the set at once, and the
        connections swept as after one made here. Anything but `{"jti": <a jti>}` is ignored."""
        jti = data.get("jti") if isinstance(data, dict) else None
        if not isinstance(jti, str) or not JTI.match(jti):
            log.warning("ignored a malformed revocation event from another Forge process")
            return
        if jti in self.jtis:
            return
        self.jtis = self.jtis | {jti}
        await self._changed()

    async def _tell_others(self, jti: str) -> None:
        if self.on_revoke is None:
            return
        try:
            await self.on_revoke(jti)
        except Exception:  # committed: the others learn at their re-read
            log.warning("could not tell the other Forge processes of a revocation", exc_info=True)

    async def _changed(self) -> None:
        if self.on_change is None:
            return
        try:
            await self.on_change()
        except Exception:  # the revocation holds for every new request all the same
            log.warning("could not end the connections of revoked tokens", exc_info=True)

    async def listing(self) -> list[dict]:
        return await self.store.revoked_tokens()

    async def refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.load(self.store)
            except Exception:  # the database is away: keep the list we have, try again later
                log.warning("could not re-read the revoked tokens", exc_info=True)
