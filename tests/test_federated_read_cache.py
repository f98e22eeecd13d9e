"""Federated resource reads the upstream marks cacheable (2026-07-28's `ttlMs` and `cacheScope`)
are answered from Forge's cache while they last: a public answer for everyone, a private one per
principal and endpoint. The upstream here is a 2026-07-28 MCP server over plain JSON that counts
its reads and answers with whatever cache hints each URI names.
"""

from __future__ import annotations

import json
import os
import threading

import httpx
import pytest

from forge_plugins.auth_basic_jwt import create_token
from forge_plugins.federation.read_cache import lifetime_of
from forge_plugins.federation.wire import MODERN
from tests.http_stub import StubHandler, StubServer
from tests.test_mcp_wire import ACCEPT, modern

SECRET = "federated-read-cache-secret-of-32-bytes"
HOUR = 3_600_000

# What the upstream adds to its answer for each URI; "mem://broken" is a JSON-RPC error instead.
HINTS = {
    "mem://public": {"ttlMs": HOUR, "cacheScope": "public"},
    "mem://private": {"ttlMs": HOUR, "cacheScope": "private"},
    "mem://unscoped": {"ttlMs": HOUR},
    "mem://fresh": {},
    "mem://brief": {"ttlMs": 200, "cacheScope": "public"},
    "mem://ttl-text": {"ttlMs": "60000", "cacheScope": "public"},
    "mem://ttl-negative": {"ttlMs": -5, "cacheScope": "public"},
    "mem://ttl-zero": {"ttlMs": 0, "cacheScope": "public"},
    "mem://ttl-bool": {"ttlMs": True, "cacheScope": "public"},
    "mem://ttl-float": {"ttlMs": 1500.0, "cacheScope": "public"},
    "mem://asks": {"ttlMs": HOUR, "cacheScope": "public"},
    "mem://broken": {},
}


class CountingUpstream(StubHandler):
    """Answers resources/read with the URI's hints and `read N` as its text (N counting that
    URI's reads); "mem://asks" wants input first (input_required) and completes on the retry."""

    reads: dict[str, int] = {}
    lock = threading.Lock()

    def do_POST(self):
        message = json.loads(self.read_body())
        method, params = message.get("method"), message.get("params") or {}
        if method == "resources/read":
            answer = self.read(params)
        elif method == "server/discover":
            answer = {"result": {
                "supportedVersions": [MODERN],
                "capabilities": {"resources": {}},
                "serverInfo": {"name": "counting", "version": "1"},
            }}
        elif method == "resources/list":
            answer = {"result": {"resources": [{"uri": uri, "name": uri[6:]} for uri in HINTS]}}
        else:
            answer = {"error": {"code": -32601, "message": f"no {method}"}}
        self.send_json({"jsonrpc": "2.0", "id": message.get("id"), **answer})

    def read(self, params: dict) -> dict:
        uri = params.get("uri")
        with self.lock:
            self.reads[uri] = count = self.reads.get(uri, 0) + 1
        if uri == "mem://broken":
            return {"error": {"code": -32603, "message": "the disk is on fire", "data": {"ttlMs": HOUR}}}
        if uri == "mem://asks" and "inputResponses" not in params:
            return {"result": {
                "resultType": "input_required",
                "inputRequests": {"who": {"method": "elicitation/create", "params": {"message": "who?"}}},
                "requestState": "asked",
                **HINTS[uri],
            }}
        contents = [{"uri": uri, "mimeType": "text/plain", "text": f"read {count}"}]
        return {"result": {"contents": contents, **HINTS[uri]}}


@pytest.fixture
def upstream():
    handler = type("Counting", (CountingUpstream,), {"reads": {}})
    stub = StubServer(handler)
    yield stub.url + "/mcp", handler.reads
    stub.close()


def bearer(user: str) -> dict:
    return {"authorization": f"Bearer {create_token(user, SECRET)}"}


ALICE, BOB = bearer("alice"), bearer("bob")


def federating(start_forge, url: str, **settings):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET, **settings)
    with httpx.Client(base_url=forge.url, headers=ALICE, timeout=60) as api:
        gateway = api.post("/gateways", json={"name": "counting", "url": url})
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "healthy", gateway.json()
    return forge


@pytest.fixture
def forge(start_forge, upstream):
    return federating(start_forge, upstream[0])


def read(forge, who: dict, uri: str, path: str = "/mcp", **params) -> dict:
    """resources/read as a 2026-07-28 client: the result, or the JSON-RPC error object."""
    with httpx.Client(base_url=forge.url, headers={**ACCEPT, **who}, timeout=30) as client:
        answer = client.post(path, **modern("resources/read", {"uri": uri, **params}, name=uri))
    assert answer.status_code == 200, answer.text
    return answer.json().get("result") or {"error": answer.json()["error"]}


def read_handshake(forge, who: dict, uri: str) -> dict:
    """resources/read as a handshake-era client (plain JSON-RPC at /rpc)."""
    message = {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}}
    answer = httpx.post(forge.url + "/rpc", headers=who, json=message, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def text(result: dict) -> str:
    return result["contents"][0]["text"]


def test_a_public_answer_is_read_upstream_once_for_every_principal(forge, upstream):
    reads = upstream[1]
    first = read(forge, ALICE, "mem://public")
    again = read(forge, BOB, "mem://public")
    assert (text(first), text(again)) == ("read 1", "read 1")
    assert reads["mem://public"] == 1
    assert again["cacheScope"] == "public" and 0 < again["ttlMs"] <= HOUR


def test_a_private_answer_is_kept_for_its_principal_only(forge, upstream):
    reads = upstream[1]
    for uri in ("mem://private", "mem://unscoped"):  # no cacheScope: private, to be safe
        assert text(read(forge, ALICE, uri)) == "read 1"
        assert text(read(forge, ALICE, uri)) == "read 1"
        assert text(read(forge, BOB, uri)) == "read 2"
        assert text(read(forge, BOB, uri)) == "read 2"
        assert reads[uri] == 2


def test_a_private_answer_is_kept_per_endpoint(forge, upstream):
    with httpx.Client(base_url=forge.url, headers=ALICE, timeout=30) as api:
        resources = api.get("/resources", params={"search": "private"}).json()["items"]
        [private] = [resource for resource in resources if resource["uri"] == "mem://private"]
        desk = api.post("/servers", json={"name": "desk", "resource_ids": [private["id"]]})
        assert desk.status_code == 201, desk.text
    assert text(read(forge, ALICE, "mem://private")) == "read 1"
    assert text(read(forge, ALICE, "mem://private", path=f"/servers/{desk.json()['id']}/mcp")) == "read 2"
    assert text(read(forge, ALICE, "mem://private", path=f"/servers/{desk.json()['id']}/mcp")) == "read 2"
    assert upstream[1]["mem://private"] == 2


def test_an_answer_without_a_usable_ttl_is_read_every_time(forge, upstream):
    reads = upstream[1]
    uris = ["mem://fresh"] + [uri for uri in HINTS if uri.startswith("mem://ttl-")]
    for uri in uris:
        assert text(read(forge, ALICE, uri)) == "read 1"
        assert text(read(forge, ALICE, uri)) == "read 2", uri
    assert {uri: reads[uri] for uri in uris} == dict.fromkeys(uris, 2)


def test_errors_and_requests_for_input_are_not_kept(forge, upstream):
    reads = upstream[1]
    for _ in range(2):
        error = read(forge, ALICE, "mem://broken")["error"]
        assert error["message"] == "the disk is on fire"
    assert reads["mem://broken"] == 2

    assert read(forge, ALICE, "mem://asks")["resultType"] == "input_required"
    assert read(forge, ALICE, "mem://asks")["resultType"] == "input_required"
    answer = {"who": {"action": "accept", "content": {"name": "alice"}}}
    retry = {"inputResponses": answer, "requestState": "asked"}
    assert text(read(forge, ALICE, "mem://asks", **retry)) == "read 3"
    assert text(read(forge, ALICE, "mem://asks", **retry)) == "read 4"  # an answer to input stays its own
    assert read(forge, ALICE, "mem://asks")["resultType"] == "input_required"
    assert reads["mem://asks"] == 5


def test_a_kept_answer_expires_within_cache_ttl(forge, upstream):
    reads = upstream[1]
    cache = forge.gateway.adapters["MCP"].reads
    now = [1_000_000.0]
    cache.clock = lambda: now[0]
    assert text(read(forge, ALICE, "mem://public")) == "read 1"
    now[0] += 20.5  # a 2026 client may reuse it for what is left of the upstream's hour
    kept = read(forge, BOB, "mem://public")
    assert text(kept) == "read 1" and kept["ttlMs"] == HOUR - 20_500
    now[0] += 40  # past CACHE_TTL (60 s), which caps how long Forge keeps it
    assert text(read(forge, BOB, "mem://public")) == "read 2"
    assert reads["mem://public"] == 2


def test_the_cache_itself_lets_a_short_lived_answer_go(forge, upstream):
    """Real time, no fake clock: a 200 ms answer is read upstream again once it is gone."""
    reads = upstream[1]
    read(forge, ALICE, "mem://brief")
    for _ in range(300):
        if text(read(forge, ALICE, "mem://brief")) != "read 1":
            break
        threading.Event().wait(0.05)
    assert reads["mem://brief"] >= 2


def test_a_handshake_era_client_gets_no_cache_hints_even_from_the_cache(forge, upstream):
    fresh = read_handshake(forge, ALICE, "mem://public")
    kept = read_handshake(forge, BOB, "mem://public")
    contents = [{"uri": "mem://public", "mimeType": "text/plain", "text": "read 1"}]
    assert fresh == kept == {"contents": contents}
    modern_kept = read(forge, ALICE, "mem://public")  # kept from a handshake-era read, hints intact
    assert text(modern_kept) == "read 1" and modern_kept["cacheScope"] == "public"
    assert upstream[1]["mem://public"] == 1


def test_an_edited_resource_or_an_update_upstream_is_read_afresh(forge, upstream):
    reads = upstream[1]
    assert text(read(forge, ALICE, "mem://public")) == "read 1"
    with httpx.Client(base_url=forge.url, headers=ALICE, timeout=30) as api:
        resources = api.get("/resources", params={"search": "public"}).json()["items"]
        [public] = [resource for resource in resources if resource["uri"] == "mem://public"]
        edited = api.patch(f"/resources/{public['id']}", json={"description": "edited"})
        assert edited.status_code == 200, edited.text
    assert text(read(forge, ALICE, "mem://public")) == "read 2"
    assert text(read(forge, BOB, "mem://public")) == "read 2"
    # What the federation does on the upstream's notifications/resources/updated.
    forge.run(forge.gateway.resource_updated("mem://public"))
    assert text(read(forge, BOB, "mem://public")) == "read 3"
    assert reads["mem://public"] == 3


def test_cache_ttl_caps_the_lifetime_and_zero_turns_the_cache_off(start_forge, upstream):
    assert lifetime_of({"contents": [], "ttlMs": HOUR}, 60) == 60
    assert lifetime_of({"contents": [], "ttlMs": 250, "resultType": "complete"}, 60) == 0.25
    for unusable in ("60000", -5, 0, True, 1500.0, None):
        assert lifetime_of({"contents": [], "ttlMs": unusable}, 60) is None, unusable
    forge = federating(start_forge, upstream[0], cache_ttl=0)
    assert text(read(forge, ALICE, "mem://public")) == "read 1"
    assert text(read(forge, ALICE, "mem://public")) == "read 2"


@pytest.mark.redis
def test_kept_answers_live_in_redis_with_cache_type_redis(start_forge, upstream, redis_server):
    forge = federating(
        start_forge, upstream[0], cache_type="redis", redis_url=redis_server,
        redis_prefix=f"forge-test-{os.urandom(6).hex()}",
    )
    assert text(read(forge, ALICE, "mem://public")) == "read 1"
    assert text(read_handshake(forge, BOB, "mem://public")) == "read 1"
    assert "ttlMs" not in read_handshake(forge, BOB, "mem://public")
    privately = [text(read(forge, who, "mem://private")) for who in (ALICE, BOB, ALICE)]
    assert privately == ["read 1", "read 2", "read 1"]
    forge.run(forge.gateway.resource_updated("mem://public"))
    assert text(read(forge, BOB, "mem://public")) == "read 2"
    assert upstream[1] == {"mem://public": 2, "mem://private": 2}
