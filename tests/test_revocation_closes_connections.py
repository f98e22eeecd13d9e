"""A revoked or expired token stops working on the connections it already opened, not only on new
requests: its WebSocket closes with 1008, its legacy SSE stream, its Streamable HTTP session's GET
stream and its `subscriptions/listen` stream end. Another principal's connections stay open.

The kernel asks `forge_credential_valid` (the auth plugin answers for tokens) every
AUTH_RECHECK_SECONDS, on every WebSocket frame and SSE POST, and at once after a revocation."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from forge.hookspecs import hookimpl
from forge_plugins.auth_basic_jwt.tokens import claims_for

SECRET = "revocation-closes-connections-" + "s" * 34
GUARDED = {"auth_required": True, "jwt_secret_key": SECRET, "basic_auth_password": "pw"}
HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}
}
STREAM_HEADERS = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
NEVER = 3600  # an AUTH_RECHECK_SECONDS no test waits for: what ends a connection is then not the timer
BOUND = 30  # seconds any connection is given to end; a bound on waiting, not an assertion of speed


def bearer(token: str | None) -> dict:
    return {"authorization": f"Bearer {token}"} if token else {}


def initialize(request_id=1) -> dict:
    return {
        "jsonrpc": "2.0", "id": request_id, "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}
        },
    }


def issue(forge, subject: str) -> tuple[str, str]:
    """(token, jti) of a token the gateway signs through POST /auth/tokens."""
    answer = httpx.post(
        forge.url + "/auth/tokens", auth=("admin", "pw"),
        json={"name": f"{subject}'s client", "scopes": ["read"], "subject": subject},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"], answer.json()["jti"]


def short_lived(subject: str, seconds: int) -> tuple[str, int]:
    """A token signed with the gateway's key that expires `seconds` from now, and its `exp`."""
    claims = claims_for(subject, 1, scopes=["read"])
    claims["exp"] = int(time.time()) + seconds
    return jwt.encode(claims, SECRET, algorithm="HS256"), claims["exp"]


def revoke(forge, jti: str) -> None:
    answer = httpx.post(forge.url + f"/auth/tokens/{jti}/revoke", auth=("admin", "pw"))
    assert answer.status_code == 200, answer.text


async def read_to_end(response: httpx.Response, lines=None) -> None:
    """Read a stream (from where `lines`, its line iterator, has got to) until the server ends it."""
    async for _ in lines or response.aiter_lines():
        pass
    await response.aclose()


class Connections:
    """One client's long-lived connections to a gateway: a WebSocket session, a Streamable HTTP
    session with its GET stream, a `subscriptions/listen` stream and a legacy SSE stream, each
    watched by a task that finishes when the server ends it."""

    def __init__(self, forge, token: str, kinds=("websocket", "session stream", "listen", "sse")):
        self.forge, self.token, self.kinds = forge, token, kinds
        self.ended: dict[str, asyncio.Task] = {}

    async def __aenter__(self) -> Connections:
        self.http = httpx.AsyncClient(base_url=self.forge.url, headers=bearer(self.token), timeout=BOUND)
        self.socket = None
        for kind in self.kinds:
            opener = {
                "websocket": self._websocket, "session stream": self._session_stream,
                "listen": self._listen, "sse": self._sse,
            }[kind]
            self.ended[kind] = asyncio.create_task(await opener())
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.ended.values():
            task.cancel()
        await asyncio.gather(*self.ended.values(), return_exceptions=True)
        if self.socket is not None:
            await self.socket.close()
        await self.http.aclose()

    async def _websocket(self):
        url = self.forge.url.replace("http://", "ws://") + "/ws"
        self.socket = await connect(url, subprotocols=["mcp"], additional_headers=bearer(self.token))
        answer = await self.ws_request(initialize())
        assert answer["result"]["protocolVersion"] == HANDSHAKE
        return self.socket.wait_closed()

    async def ws_request(self, message: dict) -> dict:
        await self.socket.send(json.dumps(message))
        async with asyncio.timeout(BOUND):
            while True:
                answer = json.loads(await self.socket.recv())
                if answer.get("id") == message["id"]:
                    return answer

    async def _session_stream(self):
        opened = await self.http.post("/mcp", headers=STREAM_HEADERS, json=initialize())
        assert opened.status_code == 200, opened.text
        self.session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": HANDSHAKE}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await self.http.post("/mcp", headers={**STREAM_HEADERS, **self.session}, json=initialized)
        response = await self.http.send(
            self.http.build_request("GET", "/mcp", headers={**STREAM_HEADERS, **self.session}), stream=True
        )
        assert response.status_code == 200
        self.session_response = response
        return read_to_end(response)

    async def _listen(self):
        listen = {
            "jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen",
            "params": {"_meta": MODERN_META, "notifications": {"toolsListChanged": True}},
        }
        headers = {**STREAM_HEADERS, "mcp-protocol-version": MODERN, "mcp-method": "subscriptions/listen"}
        request = self.http.build_request("POST", "/mcp", json=listen, headers=headers)
        response = await self.http.send(request, stream=True)
        assert response.status_code == 200
        lines = response.aiter_lines()
        async with asyncio.timeout(BOUND):  # the acknowledgement: the subscription is open
            while "acknowledged" not in await anext(lines):
                pass
        return read_to_end(response, lines)

    async def _sse(self):
        response = await self.http.send(
            self.http.build_request("GET", "/sse", headers={"accept": "text/event-stream"}), stream=True
        )
        assert response.status_code == 200
        lines = response.aiter_lines()
        async with asyncio.timeout(BOUND):
            while not (line := await anext(lines)).startswith("data: "):
                pass
        self.message_url = line.removeprefix("data: ")
        return read_to_end(response, lines)

    async def all_end(self) -> None:
        async with asyncio.timeout(BOUND):
            await asyncio.gather(*self.ended.values())

    def still_open(self) -> list[str]:
        return [kind for kind, task in self.ended.items() if not task.done()]


async def refused(forge, token: str) -> None:
    """The token opens nothing any more: 401 on every transport."""
    async with httpx.AsyncClient(base_url=forge.url, headers=bearer(token), timeout=BOUND) as http:
        assert (await http.post("/mcp", headers=STREAM_HEADERS, json=initialize())).status_code == 401
        assert (await http.post("/rpc", json=PING)).status_code == 401
    with pytest.raises(InvalidStatus) as refusal:
        await connect(forge.url.replace("http://", "ws://") + "/ws", additional_headers=bearer(token))
    assert refusal.value.response.status_code == 401


async def test_revoking_a_token_ends_every_connection_it_opened_at_once(start_forge):
    forge = start_forge(**GUARDED, auth_recheck_seconds=NEVER)
    (victim, jti), (other, _) = issue(forge, "ada"), issue(forge, "bob")
    async with Connections(forge, victim) as ada, Connections(forge, other) as bob:
        assert ada.still_open() == list(ada.kinds) and len(forge.gateway.engine.subscriptions) == 2

        await asyncio.to_thread(revoke, forge, jti)
        await ada.all_end()
        assert (ada.socket.close_code, ada.socket.close_reason) == (
            1008, "the credential of this connection is no longer valid (revoked or expired)"
        )
        await refused(forge, victim)

        assert bob.still_open() == list(bob.kinds)  # the same sweep looked at them and let them be
        assert (await bob.ws_request(PING))["result"] == {}
        assert (await bob.http.post(bob.message_url, json=PING)).status_code == 202
        stream_ping = await bob.http.post("/mcp", headers={**STREAM_HEADERS, **bob.session}, json=PING)
        assert stream_ping.status_code == 200
        assert {session.principal.name for session in forge.gateway.engine.sessions} == {"bob"}


async def test_a_token_past_its_exp_loses_its_connections(start_forge):
    forge = start_forge(**GUARDED, auth_recheck_seconds=0.2)
    token, _ = short_lived("eve", seconds=6)
    other, _ = issue(forge, "bob")
    async with Connections(forge, token) as eve, Connections(forge, other, kinds=("websocket", "sse")) as bob:
        await eve.all_end()
        assert eve.socket.close_code == 1008
        await refused(forge, token)
        assert bob.still_open() == ["websocket", "sse"]
        assert (await bob.ws_request(PING))["result"] == {}


async def test_a_frame_or_post_after_exp_is_refused_between_sweeps(start_forge):
    """Each message on an open WebSocket or SSE session asks the hook again, so an expired token gets
    no answer even when the periodic sweep has not come round yet."""
    forge = start_forge(**GUARDED, auth_recheck_seconds=NEVER)
    token, expires = short_lived("eve", seconds=4)
    async with Connections(forge, token, kinds=("websocket", "sse")) as eve:
        while time.time() <= expires:
            await asyncio.sleep(0.2)
        await eve.socket.send('{"jsonrpc": "2.0", "id": 2, "method": "ping"}')
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(BOUND):
                await eve.socket.recv()
        assert closed.value.rcvd.code == 1008
        assert not eve.ended["sse"].done()  # nothing swept it yet; a POST with a fresh token finds it out
        fresh, _ = issue(forge, "eve")
        answer = await eve.http.post(eve.message_url, json=PING, headers=bearer(fresh))
        assert answer.status_code == 404 and "no longer valid" in answer.json()["error"]["message"]
        await eve.all_end()


async def test_another_workers_revocation_ends_connections_at_its_refresh(start_forge, tmp_path, monkeypatch):
    """Two gateways on one database stand for two worker processes."""
    monkeypatch.setenv("AUTH_REVOCATION_REFRESH", "0.2")
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    one = start_forge(**GUARDED, database_url=database_url, auth_recheck_seconds=NEVER)
    two = start_forge(**GUARDED, database_url=database_url, auth_recheck_seconds=NEVER)
    token, jti = issue(one, "ada")
    async with Connections(two, token, kinds=("websocket", "session stream")) as ada:
        await asyncio.to_thread(revoke, one, jti)
        await ada.all_end()
        assert ada.socket.close_code == 1008


class Switch:
    """An authentication plugin of the test's own: its principals hold while `on` is True."""

    on = True

    @hookimpl
    def forge_credential_valid(self, gateway, principal):
        return self.on


async def test_the_kernel_asks_any_plugin_and_without_one_watches_nothing(start_forge):
    switch = Switch()
    watched = start_forge(plugins=[switch], auth_recheck_seconds=NEVER)  # AUTH_REQUIRED=false: anonymous
    async with Connections(watched, None, kinds=("websocket", "listen")) as anyone:
        assert watched.run(watched.gateway.credential_watch.sweep()) == 0
        switch.on = False
        assert watched.run(watched.gateway.credential_watch.sweep()) == 2
        await anyone.all_end()
        assert anyone.socket.close_code == 1008

    unwatched = start_forge(plugins_disabled=["auth_basic_jwt"])
    assert not unwatched.gateway.credential_watch.active
    assert unwatched.run(unwatched.gateway.credential_watch.sweep()) == 0


async def test_a_session_stream_is_watched_under_the_token_that_opened_it(start_forge):
    """A client that reopens its session's GET stream with a newer token of the same principal: the
    stream is held by that token, so revoking it ends the session."""
    forge = start_forge(**GUARDED, auth_recheck_seconds=NEVER)
    (first, _), (second, jti) = issue(forge, "ada"), issue(forge, "ada")
    async with Connections(forge, first, kinds=("session stream",)) as ada:
        ada.ended["session stream"].cancel()  # the client drops its stream and opens it anew
        await asyncio.gather(ada.ended["session stream"], return_exceptions=True)
        await ada.session_response.aclose()
        headers = {**STREAM_HEADERS, **ada.session, **bearer(second)}
        async with asyncio.timeout(BOUND):
            while True:  # until the server has noticed the first stream is gone
                request = ada.http.build_request("GET", "/mcp", headers=headers)
                response = await ada.http.send(request, stream=True)
                if response.status_code == 200:
                    break
                await response.aclose()
                await asyncio.sleep(0.05)
        ada.ended["session stream"] = asyncio.create_task(read_to_end(response))
        await asyncio.to_thread(revoke, forge, jti)
        await ada.all_end()


async def test_a_streamable_http_session_carried_on_by_a_newer_token_outlives_the_first(start_forge):
    """A client refreshing its token keeps its session: revoking the token that opened it leaves
    the session to the newer one; revoking that one too ends it."""
    forge = start_forge(**GUARDED, auth_recheck_seconds=NEVER)
    first, first_jti = issue(forge, "refresher")
    second, second_jti = issue(forge, "refresher")
    async with httpx.AsyncClient(base_url=forge.url, timeout=BOUND, headers=STREAM_HEADERS) as client:
        opened = await client.post("/mcp", json=initialize(), headers=bearer(first))
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": HANDSHAKE}

        async def ping(token: str) -> httpx.Response:
            return await client.post("/mcp", json=PING, headers={**session, **bearer(token)})

        assert (await ping(second)).status_code == 200  # the session now lives on the second token
        revoke(forge, first_jti)
        answer = await ping(second)
        assert answer.status_code == 200, answer.text
        revoke(forge, second_jti)
        assert (await ping(second)).status_code == 401
        third, _ = issue(forge, "refresher")
        assert (await ping(third)).status_code == 404  # ended with the token it last lived on
