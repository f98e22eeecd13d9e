"""Many Forge processes, one federation: the holder of a lease imports, checks health and syncs.

Two Forges on one PostgreSQL database and one Redis prefix (what workers or replicas are) with one
MCP upstream registered: both connect to it and forward calls to it, but only the leader writes
what it learns (the imported catalog, the gateway row); the other's catalog follows. When the
leader stops, or dies without a word, the other takes the lease over and catches up. Also the
kernel's lease itself (`forge.cluster`), on a real Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest

from forge.cluster import Cluster, RedisCluster
from forge_plugins.federation import federation_of
from tests import test_federation
from tests.conftest import free_port
from tests.test_federation import call, eventually, register, text, tool_names

upstream = test_federation.upstream  # the fixture: tests/federation_upstream.py processes

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning"),
]
LEASE = "3"  # seconds: renewed every second, so a dead leader is replaced within about four


@pytest.fixture
def shared(postgres_url, redis_server, monkeypatch) -> dict:
    """Settings of Forges that are one gateway: one database, one Redis prefix, a short lease."""
    monkeypatch.setenv("FEDERATION_LEADER_LEASE", LEASE)
    monkeypatch.setenv("FEDERATION_HEALTH_INTERVAL", "1")  # health is written often: followers must not
    return {
        "database_url": postgres_url,
        "cache_type": "redis",
        "redis_url": redis_server,
        "redis_prefix": f"forge-test-{os.urandom(6).hex()}",
    }


def federation(forge):
    return federation_of(forge.gateway)


def forwards(forge) -> bool:
    """Whether this Forge forwards calls to the upstream alpha (it is connected to it)."""
    return call(forge, "alpha.echo", {"text": "hi"}).get("content") == [{"type": "text", "text": "alpha: hi"}]


def watch_writes(forge) -> list[str]:
    """What this Forge's federation writes from now on: "import" per catalog import, "row" per
    gateway-row update (health, state)."""
    writes: list[str] = []
    found = federation(forge)
    importing, updating = found.import_catalog, forge.gateway.store.update

    async def import_catalog(upstream, session, **options):
        writes.append("import")
        return await importing(upstream, session, **options)

    async def update(kind, entity_id, changes):
        if kind == "gateways":
            writes.append("row")
        return await updating(kind, entity_id, changes)

    found.import_catalog, forge.gateway.store.update = import_catalog, update
    return writes


def test_only_the_leader_imports_and_records_health_and_both_forward_calls(start_forge, shared, upstream):
    first = start_forge(**shared)  # up first: it takes the lease
    second = start_forge(**shared)
    assert federation(first).leading and not federation(second).leading
    first_writes, second_writes = watch_writes(first), watch_writes(second)

    alpha = upstream("alpha")
    record = register(first, name="alpha", url=alpha.url)
    assert record["state"] == "healthy"
    # The follower hears of the new gateway, connects, and forwards its clients' calls itself.
    eventually(lambda: forwards(second))
    assert forwards(first)

    # The upstream announces a new tool to both: the leader re-imports, the follower's catalog follows.
    assert text(call(second, "alpha.grow")) == "grown"
    eventually(lambda: "alpha.extra" in tool_names(second))
    assert "alpha.extra" in tool_names(first)
    eventually(lambda: first_writes.count("row") >= 2)  # health checks every second, on the leader
    assert first_writes.count("import") >= 2  # the first one, and the one list_changed asked for
    assert second_writes == []


def test_a_gateway_registered_through_a_follower_is_imported_there_then_led(start_forge, shared, upstream):
    first = start_forge(**shared)
    second = start_forge(**shared)
    assert not federation(second).leading
    first_writes = watch_writes(first)

    record = register(second, name="alpha", url=upstream("alpha").url)
    # The process answering the POST imports and records the first attempt: its answer shows it.
    assert record["state"] == "healthy" and record["capabilities"]["serverInfo"]["name"] == "upstream-alpha"
    assert "alpha.echo" in tool_names(second)
    # The leader opens it too, and from then on it is the one checking its health.
    eventually(lambda: "alpha" in [opened.name for opened in federation(first).upstreams.values()])
    eventually(lambda: "row" in first_writes)
    eventually(lambda: forwards(first))


def test_an_upstream_that_drops_is_recorded_by_the_leader_and_rejoined_by_both(start_forge, shared, upstream):
    first = start_forge(**shared)
    second = start_forge(**shared)
    alpha = upstream("alpha")
    record = register(first, name="alpha", url=alpha.url)
    eventually(lambda: forwards(second))
    second_writes = watch_writes(second)

    alpha.stop()
    # The leader finds it down and says so on the row; both catalogs hide what it lent.
    row = f"{first.url}/gateways/{record['id']}"
    eventually(lambda: httpx.get(row, timeout=10).json()["state"] == "unhealthy")
    eventually(lambda: "alpha.echo" not in tool_names(second))
    alpha.start()  # back on the same port: each process reconnects on its own
    eventually(lambda: forwards(first) and forwards(second), timeout=30)
    assert second_writes == []


def test_when_the_leader_stops_the_other_takes_over_and_catches_up(start_forge, shared, upstream):
    first = start_forge(**shared)
    second = start_forge(**shared)
    register(first, name="alpha", url=upstream("alpha").url)
    eventually(lambda: forwards(second))

    # A tool added without a word: only a sync finds it, and the next periodic one is minutes away.
    assert text(call(first, "alpha.grow_quietly")) == "grown quietly"
    first.stop()
    eventually(lambda: federation(second).leading, timeout=30)
    eventually(lambda: "alpha.quiet" in tool_names(second), timeout=30)  # its first sync as leader


def forge_process(port: int, settings: dict) -> subprocess.Popen:
    """`forge serve` in a process of its own, answered once /health is (so it can be killed)."""
    env = {
        **os.environ,
        **{name.upper(): value for name, value in settings.items()},
        "AUTH_REQUIRED": "false",
        "OUTBOUND_ALLOW": "127.0.0.0/8",
        "PLUGINS_DISABLED": "admin_ui",
        "LOG_LEVEL": "WARNING",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "forge", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        assert child.poll() is None, "forge serve exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(up, timeout=90, interval=0.2)
    except BaseException:
        child.kill()
        child.wait(10)
        raise
    return child


def test_when_the_leader_dies_the_other_takes_over_once_its_lease_expires(start_forge, shared, upstream):
    port = free_port()
    leader = forge_process(port, shared)  # FEDERATION_LEADER_LEASE from the environment, as here
    try:
        follower = start_forge(**shared)
        assert not federation(follower).leading
        gateway = {"name": "alpha", "url": upstream("alpha").url}
        httpx.post(f"http://127.0.0.1:{port}/gateways", json=gateway, timeout=60).raise_for_status()
        eventually(lambda: forwards(follower))
        assert text(call(follower, "alpha.grow_quietly")) == "grown quietly"
        leader.send_signal(signal.SIGKILL)  # no shutdown: its lease stays until it expires
        leader.wait(10)
        eventually(lambda: federation(follower).leading, timeout=30)
        eventually(lambda: "alpha.quiet" in tool_names(follower), timeout=30)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)


# --- the kernel's lease --------------------------------------------------------------------------


async def test_a_lease_is_held_renewed_and_lost_to_another_once_expired(redis_server):
    prefix = f"forge-test-{os.urandom(6).hex()}"
    one, other = RedisCluster(redis_server, prefix), RedisCluster(redis_server, prefix)

    async def nothing(event):
        pass

    await one.start(nothing)
    await other.start(nothing)
    try:
        assert await one.hold_lease("work", 2)
        for _ in range(6):  # renewed well within its ttl: kept past it
            await asyncio.sleep(0.5)
            assert not await other.hold_lease("work", 2)
            assert await one.hold_lease("work", 2)
        assert await one.redis.get(f"{prefix}:lease:work") == one.holder.encode()
        while not await other.hold_lease("work", 2):  # one stopped renewing: it expires
            await asyncio.sleep(0.1)
        assert not await one.hold_lease("work", 2)  # and it cannot renew the other's

        await one.release_lease("work")  # not its own: nothing happens
        assert not await one.hold_lease("work", 10)
        await other.release_lease("work")  # given up: taken at once
        assert await one.hold_lease("work", 10)
    finally:
        await one.redis.delete(f"{prefix}:lease:work")
        await one.stop()
        await other.stop()


async def test_alone_or_without_redis_a_process_always_holds_the_lease():
    assert await Cluster().hold_lease("work", 1)
    from redis import asyncio as aioredis

    unreachable = RedisCluster(f"redis://127.0.0.1:{free_port()}/0", "forge-test")
    unreachable.redis = aioredis.from_url(unreachable.redis_url, socket_connect_timeout=1)
    try:
        assert await unreachable.hold_lease("work", 1)  # duplicated work beats none
        assert await unreachable.hold_lease("work", 1)
    finally:
        await unreachable.redis.aclose()
