"""Which Forge process does the federation's shared work: one leads, the others follow.

Layer: plugin, beside `federation`, which asks it `leading` before writing; below it the kernel's
lease (`forge.cluster.Cluster.hold_lease`). Workers of `forge serve --workers N` and replicas
sharing one database and Redis (CACHE_TYPE=redis) each connect to every upstream, since each
forwards its own clients' calls; but one of them, the holder of the lease "federation", imports
the upstreams' catalogs, records their health on the gateway rows, registers FEDERATION_PEERS and
runs the periodic and list_changed syncs. The others' catalogs follow its writes through the
cluster's catalog events. Alone (no shared cluster) a process always leads: nothing changes.

The lease lasts FEDERATION_LEADER_LEASE seconds and is renewed every third of that, so a leader
that dies is replaced within about 4/3 of the lease (it expires at most a lease after the last
renewal; followers ask every third of it); one that stops cleanly gives it up, and the next
follower to ask, within a third of the lease, takes over. A new leader checks and syncs every
upstream at once. Two processes may both lead for a moment (one whose loop stalled past its lease
learns it at its next renewal, and while Redis is unreachable every process leads): the work is
then done twice, which the imports tolerate (each writes only what differs).
"""

from __future__ import annotations

import logging

log = logging.getLogger("forge.federation")

LEASE = "federation"


class Leadership:
    def __init__(self, cluster, lease_seconds: float):
        self.cluster = cluster
        self.lease_seconds = lease_seconds
        self.leading = not cluster.shared  # alone, this process is the leader from the start

    @property
    def renew_seconds(self) -> float:
        return self.lease_seconds / 3

    async def elect(self) -> bool | None:
        """Take or renew the lease once. Answers True when this process has just become the
        leader, False when it has just stopped being it, None when nothing changed."""
        held = await self.cluster.hold_lease(LEASE, self.lease_seconds)
        if held == self.leading:
            return None
        self.leading = held
        if held:
            log.info("federation: this process now leads the imports, health checks and syncs")
        else:
            log.warning("federation: another process holds the lease now; this one follows")
        return held

    async def release(self) -> None:
        """At shutdown: give the lease up, so a follower takes over without waiting for it to expire."""
        if self.cluster.shared and self.leading:
            self.leading = False
            await self.cluster.release_lease(LEASE)
