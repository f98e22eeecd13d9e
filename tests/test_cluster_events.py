"""Plugins' cluster events: what one process serving a gateway publishes with
`gateway.publish_cluster_event(topic, data)` reaches the `forge_cluster_event` hook of the other
processes sharing its Redis (CACHE_TYPE=redis), never its own; a handler that fails is logged and
the others, and later events, still arrive. The auth plugin sends revocations so: a token revoked
through one process (its API, or `forge token revoke`) is refused by the others and loses the
connections it holds there at once, long before their AUTH_REVOCATION_REFRESH re-read.

Two gateways on one SQLite file and one Redis prefix stand for two workers (or replicas)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner

from forge.cli import build_cli
from forge.hookspecs import hookimpl
from tests.conftest import eventually
from tests.test_revocation_closes_connections import (
    GUARDED, NEVER, SECRET, Connections, bearer, issue, refused, revoke,
)

pytestmark = pytest.mark.redis

BOUND = 10  # seconds an event is given to arrive; a bound on waiting, not an assertion of speed
ONLY_THE_EVENT = "3600"  # an AUTH_REVOCATION_REFRESH no test waits for: the re-read explains nothing


class Recorder:
    """A plugin keeping the cluster events it receives."""

    def __init__(self):
        self.received: list[tuple[str, object]] = []

    @hookimpl
    def forge_cluster_event(self, gateway, topic, data):
        self.received.append((topic, data))


class Failing:
    """A plugin whose handler always fails: the kernel logs it and delivers on."""

    @hookimpl
    async def forge_cluster_event(self, gateway, topic, data):
        raise RuntimeError("this handler is broken")


def test_an_event_reaches_the_other_processes_plugins_never_the_senders(start_forge, cluster_settings, caplog):
    here, there = Recorder(), Recorder()
    first = start_forge(plugins=[here, Failing()], **cluster_settings)
    second = start_forge(plugins=[there, Failing()], **cluster_settings)

    first.run(first.gateway.publish_cluster_event("test.greeting", {"hello": ["world", 1]}))
    assert eventually(lambda: there.received, timeout=BOUND) == [("test.greeting", {"hello": ["world", 1]})]
    assert "this handler is broken" in caplog.text  # logged, and the recorder was called all the same

    # The listener lives on: a malformed event is skipped, the next one arrives, in order.
    second.run(second.gateway.cluster.publish({"type": "plugin", "topic": 42, "data": "no topic"}))
    second.run(second.gateway.publish_cluster_event("test.reply", "one"))
    second.run(second.gateway.publish_cluster_event("test.reply", "two"))
    assert eventually(lambda: len(here.received) == 2, timeout=BOUND)
    assert here.received == [("test.reply", "one"), ("test.reply", "two")]
    assert there.received == [("test.greeting", {"hello": ["world", 1]})]  # not its own


def test_alone_publishing_tells_nobody_and_data_must_be_json(start_forge):
    recorder = Recorder()
    alone = start_forge(plugins=[recorder])  # CACHE_TYPE=memory: one process
    alone.run(alone.gateway.publish_cluster_event("test.greeting", None))
    with pytest.raises(TypeError):
        alone.run(alone.gateway.publish_cluster_event("test.greeting", {"not json": object()}))
    assert recorder.received == []


async def test_a_revocation_through_one_process_ends_the_token_on_the_other_at_once(
    start_forge, cluster_settings, monkeypatch
):
    monkeypatch.setenv("AUTH_REVOCATION_REFRESH", ONLY_THE_EVENT)
    one = start_forge(**GUARDED, **cluster_settings, auth_recheck_seconds=NEVER)
    two = start_forge(**GUARDED, **cluster_settings, auth_recheck_seconds=NEVER)
    (token, jti), (other, _) = issue(one, "ada"), issue(one, "bob")
    async with Connections(two, token, kinds=("websocket", "sse")) as ada, Connections(
        two, other, kinds=("websocket",)
    ) as bob:
        await asyncio.to_thread(revoke, one, jti)
        await ada.all_end()  # on `two`, which never re-read the list
        assert ada.socket.close_code == 1008
        await refused(two, token)
        assert bob.still_open() == ["websocket"]


def test_a_malformed_revocation_event_is_ignored(start_forge, cluster_settings, monkeypatch):
    monkeypatch.setenv("AUTH_REVOCATION_REFRESH", ONLY_THE_EVENT)
    recorder = Recorder()
    one = start_forge(**GUARDED, **cluster_settings)
    two = start_forge(plugins=[recorder], **GUARDED, **cluster_settings)
    token, jti = issue(one, "ada")
    for data in ({"jti": 7}, {"jti": "x" * 256}, {"jti": "has space"}, [jti], jti, None):
        one.run(one.gateway.publish_cluster_event("auth_basic_jwt.revoked", data))
    one.run(one.gateway.publish_cluster_event("test.marker", None))  # handled after every one above
    assert eventually(lambda: ("test.marker", None) in recorder.received, timeout=BOUND)
    assert jti not in _revoked_of(two)
    assert httpx.get(two.url + "/tools", headers=bearer(token)).status_code == 200

    one.run(one.gateway.publish_cluster_event("auth_basic_jwt.revoked", {"jti": jti}))
    assert eventually(lambda: jti in _revoked_of(two), timeout=BOUND)
    assert httpx.get(two.url + "/tools", headers=bearer(token)).status_code == 401


def _revoked_of(server) -> frozenset[str]:
    from forge_plugins.auth_basic_jwt import authenticator_of

    return authenticator_of(server.gateway).revoked.jtis


def test_forge_token_revoke_tells_the_gateways_sharing_its_redis(start_forge, cluster_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTH_REVOCATION_REFRESH", ONLY_THE_EVENT)
    running = start_forge(**GUARDED, **cluster_settings)
    token, jti = issue(running, "ada")
    monkeypatch.chdir(tmp_path)  # no developer's .env
    env = {
        "DATABASE_URL": cluster_settings["database_url"], "JWT_SECRET_KEY": SECRET, "CACHE_TYPE": "redis",
        "REDIS_URL": cluster_settings["redis_url"], "REDIS_PREFIX": cluster_settings["redis_prefix"],
    }
    result = CliRunner().invoke(build_cli(), ["token", "revoke", jti], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert eventually(lambda: httpx.get(running.url + "/tools", headers=bearer(token)).status_code == 401, timeout=BOUND)
