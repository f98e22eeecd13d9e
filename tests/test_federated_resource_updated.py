"""An upstream's resources/updated reaches each subscriber once, however many Forge processes heard it.

Every process of a cluster (CACHE_TYPE=redis) connected to an upstream may hear the same
`notifications/resources/updated`; each relaying it (to its own subscribers, and as a cluster event
to the others') would notify every subscriber once per process. The first to hear it holds a lease
on it for a second (`Upstream._relay_update`) and the others drop theirs. Here the upstream's
notification is handed to each process's `Upstream._changed` (what its connection's watcher does),
and what reaches subscribers is counted on their streams (a handshake-era session subscribed to
the URI on each process), or where each process notifies its own: `engine.announce_resource_updated`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import httpx
import pytest

from forge.cluster import Cluster, RedisCluster
from forge_plugins.federation import federation_of
from forge_plugins.federation.upstream import LONGEST_URI_IN_KEY, RELAY_WINDOW_SECONDS, Upstream, relay_lease
from tests.conftest import eventually
from tests.test_cluster import HANDSHAKE, on_session, open_session

BOUND = 10  # seconds a notification is given to arrive; a bound on waiting, not a measure of speed
SETTLE = 2 * RELAY_WINDOW_SECONDS  # after the first arrives, how long a duplicate is waited for
URI = "mem://alpha/greeting"
UPDATED = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": URI}}


def announcements(forge) -> list[str]:
    """The URIs this Forge notifies its own subscribers of from now on, in order."""
    heard: list[str] = []
    engine = forge.gateway.engine
    announcing = engine.announce_resource_updated

    async def announce(uri: str) -> None:
        heard.append(uri)
        await announcing(uri)

    engine.announce_resource_updated = announce
    return heard


def upstream_on(forge) -> Upstream:
    """This Forge's connection to the federated gateway "alpha" (its watcher's side of it)."""
    return Upstream(federation_of(forge.gateway), {"id": "gateway-alpha", "name": "alpha"})


def settled(heard: list[str], expected: int) -> list[str]:
    """`heard` once it holds `expected` entries and a duplicate has had SETTLE seconds to follow."""
    eventually(lambda: len(heard) >= expected, timeout=BOUND)
    time.sleep(SETTLE)
    return list(heard)


class Subscriber:
    """A handshake-era session opened and subscribed to URI on `forge`, its GET stream read in a
    thread: `updates` holds each resources/updated notification line it receives."""

    def __init__(self, forge):
        self.updates: list[str] = []
        self.listening = threading.Event()
        session_id = open_session(forge)
        on_session(forge, session_id, "notifications/initialized", id=None)
        assert on_session(forge, session_id, "resources/subscribe", {"uri": URI}).json()["result"] == {}
        headers = {
            "accept": "text/event-stream", "mcp-session-id": session_id, "mcp-protocol-version": HANDSHAKE,
        }
        self._reader = threading.Thread(target=self._read, args=(forge.url + "/mcp", headers), daemon=True)
        self._reader.start()
        assert self.listening.wait(BOUND)

    def _read(self, url: str, headers: dict) -> None:
        # Ends when the gateway stops (or the stream is quiet for longer than any test waits).
        try:
            with httpx.stream("GET", url, headers=headers, timeout=BOUND + 3 * SETTLE) as stream:
                assert stream.status_code == 200
                self.listening.set()
                for line in stream.iter_lines():
                    if "notifications/resources/updated" in line:
                        self.updates.append(line)
        except httpx.HTTPError:
            pass


@pytest.mark.redis
def test_two_processes_hearing_one_update_notify_each_subscriber_once(start_forge, cluster_settings):
    first, second = start_forge(**cluster_settings), start_forge(**cluster_settings)
    on_first_subscriber, on_second_subscriber = Subscriber(first), Subscriber(second)
    on_first, on_second = upstream_on(first), upstream_on(second)

    # Both connections hear the upstream's notification, one right after the other.
    first.run(on_first._changed(UPDATED))
    second.run(on_second._changed(UPDATED))
    for subscriber in (on_first_subscriber, on_second_subscriber):
        updates = settled(subscriber.updates, 1)
        assert len(updates) == 1 and URI in updates[0], updates


@pytest.mark.redis
def test_two_processes_hearing_one_update_announce_it_once_each(start_forge, cluster_settings):
    first, second = start_forge(**cluster_settings), start_forge(**cluster_settings)
    first_heard, second_heard = announcements(first), announcements(second)
    on_first, on_second = upstream_on(first), upstream_on(second)

    # Both connections hear the upstream's notification, one right after the other.
    first.run(on_first._changed(UPDATED))
    second.run(on_second._changed(UPDATED))
    assert settled(first_heard, 1) == [URI]
    assert settled(second_heard, 1) == [URI]

    # The next update, heard by both once the window is over: once each again, whoever relays it.
    time.sleep(RELAY_WINDOW_SECONDS)
    second.run(on_second._changed(UPDATED))
    first.run(on_first._changed(UPDATED))
    assert settled(first_heard, 2) == [URI, URI]
    assert settled(second_heard, 2) == [URI, URI]


@pytest.mark.redis
def test_the_relaying_process_relays_a_second_update_within_the_window(start_forge, cluster_settings):
    first, second = start_forge(**cluster_settings), start_forge(**cluster_settings)
    first_heard, second_heard = announcements(first), announcements(second)
    on_first = upstream_on(first)

    # Two distinct updates from one connection, back to back: neither is mistaken for the other's duplicate.
    first.run(on_first._changed(UPDATED))
    first.run(on_first._changed(UPDATED))
    assert settled(first_heard, 2) == [URI, URI]
    assert settled(second_heard, 2) == [URI, URI]


def test_alone_every_update_is_relayed(start_forge):
    forge = start_forge()
    heard = announcements(forge)
    on_forge = upstream_on(forge)
    forge.run(on_forge._changed(UPDATED))
    forge.run(on_forge._changed(UPDATED))
    assert settled(heard, 2) == [URI, URI]


def test_the_lease_names_the_gateway_and_a_bounded_uri():
    assert relay_lease("gw", URI) == f"resource-updated:gw:{URI}"
    long_uri = "mem://alpha/" + "x" * 10_000
    assert relay_lease("gw", long_uri) != relay_lease("gw", long_uri + "y")
    assert len(relay_lease("gw", long_uri)) < LONGEST_URI_IN_KEY
    assert relay_lease("gw", URI) != relay_lease("other", URI)


async def test_alone_the_lease_is_always_held():
    alone = Cluster()
    assert await alone.hold_lease(relay_lease("gw", URI), RELAY_WINDOW_SECONDS)
    assert await alone.hold_lease(relay_lease("gw", URI), RELAY_WINDOW_SECONDS)


@pytest.mark.redis
async def test_on_redis_the_first_process_holds_it_for_the_window_then_anyone_may(redis_server):
    prefix = f"forge-test-{os.urandom(6).hex()}"
    first, second = RedisCluster(redis_server, prefix), RedisCluster(redis_server, prefix)
    await first.connect()
    await second.connect()
    name, window = relay_lease("gw", URI), 0.3
    try:
        assert await first.hold_lease(name, window)
        assert not await second.hold_lease(name, window)
        assert await first.hold_lease(name, window)  # the holder's next update goes through
        deadline = time.monotonic() + BOUND
        while not await second.hold_lease(name, window):  # once the holder stops renewing
            assert time.monotonic() < deadline, "the lease never expired"
            await asyncio.sleep(0.05)
        assert not await first.hold_lease(name, window)
    finally:
        await first.stop()
        await second.stop()
