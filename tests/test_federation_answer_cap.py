"""Federation's HTTP upstream session holds at most UPSTREAM_MAX_RESPONSE_BYTES of one answer: a
JSON body (refused at once by its Content-Length, else once that much has arrived) and each line
or event of an SSE answer stream. Upstreams here stream far more than the cap, some without end:
a call that ends at all shows Forge stopped reading (the `asyncio.timeout` guards only turn a
regression into a failure instead of a hang; no time is asserted)."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from aiohttp import web

from forge.outbound import OutboundPolicy
from forge_plugins.federation.http_session import HttpSession, text_lines
from forge_plugins.federation.wire import MODERN, AnswerTooLarge, sse_messages
from tests.conftest import AsgiServerThread
from tests.test_federation import call, register, text
from tests.test_federation_http_session import Chunks, split_every

CAP = 64 * 1024
INFO = {"name": "t", "version": "1"}
GUARD = 60  # seconds before a call that never ends fails the test


def answer(request_id, filler: int = 0) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"text": "x" * filler}})


def answer_of_size(request_id, size: int) -> bytes:
    """A JSON-RPC answer exactly `size` bytes long."""
    return answer(request_id, size - len(answer(request_id)))


class Upstream:
    """An aiohttp server on loopback; the request's path picks how it answers. `hung_up` is set
    once a streaming answer ends early because Forge closed the connection."""

    def __init__(self):
        self.hung_up = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/{mode}", self.answer)
        self.runner = web.AppRunner(self.app, handler_cancellation=True)

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def answer(self, request: web.Request) -> web.StreamResponse:
        request_id = (await request.json())["id"]
        mode = request.match_info["mode"]
        if mode == "json-under":
            return web.Response(body=answer_of_size(request_id, CAP), content_type="application/json")
        if mode == "chunked-under":
            response = web.StreamResponse(headers={"content-type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for piece in split_every(answer_of_size(request_id, CAP), 1000):
                await response.write(piece)
            await response.write_eof()
            return response
        if mode == "sse-under":
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b": priming\n\n")
            line = b"data: " + answer_of_size(request_id, CAP - len("data: "))
            for piece in split_every(line + b"\n\n", 1000):
                await response.write(piece)
            await response.write_eof()
            return response
        if mode == "json-length":  # says 64 times the cap, sends a little, then waits
            response = web.StreamResponse(headers={"content-type": "application/json"})
            response.content_length = 64 * CAP
            await response.prepare(request)
            await response.write(b'{"jsonrpc": "2.0"')
            return await self._until_hung_up(self._wait_forever())
        if mode == "json-chunked":  # an endless chunked JSON body
            response = web.StreamResponse(headers={"content-type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b'{"jsonrpc": "2.0", "id": %d, "result": {"text": "' % request_id)
            return await self._until_hung_up(self._endless(response))
        if mode == "sse-line":  # one endless data line
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b": priming\n\nevent: message\ndata: {\"jsonrpc\": \"2.0\", \"x\": \"")
            return await self._until_hung_up(self._endless(response))
        raise web.HTTPNotFound()

    async def _until_hung_up(self, streaming) -> web.StreamResponse:
        try:
            await streaming
        except (ConnectionError, asyncio.CancelledError):
            self.hung_up.set()
            raise
        raise AssertionError("an endless answer ended")

    @staticmethod
    async def _wait_forever():
        await asyncio.Event().wait()

    @staticmethod
    async def _endless(response: web.StreamResponse):
        while True:
            await response.write(b"x" * 16384)


@pytest.fixture
async def upstream():
    server = Upstream()
    url = await server.start()
    sessions: list[HttpSession] = []

    def session(mode: str) -> HttpSession:
        sessions.append(
            HttpSession(
                f"{url}/{mode}", {}, info=INFO, timeout=GUARD,
                policy=OutboundPolicy(["127.0.0.0/8"]), max_answer_bytes=CAP,
            )
        )
        return sessions[-1]

    server.session = session
    yield server
    for opened in sessions:
        await opened.close()
    await server.runner.cleanup()


@pytest.mark.parametrize("mode", ["json-under", "chunked-under", "sse-under"])
async def test_an_answer_at_the_cap_is_read_whole(upstream, mode):
    result = await upstream.session(mode).request("tools/call", {"name": "big"}, timeout=GUARD)
    assert len(result["text"]) > CAP - 100


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("json-length", "the upstream's answer"),
        ("json-chunked", "the upstream's answer"),
        ("sse-line", "a line of the upstream's answer stream"),
    ],
)
async def test_an_answer_over_the_cap_fails_naming_the_setting_and_is_not_read_on(upstream, mode, what):
    async with asyncio.timeout(GUARD):
        with pytest.raises(AnswerTooLarge) as refused:
            await upstream.session(mode).request("tools/call", {"name": "big"}, timeout=GUARD)
        await upstream.hung_up.wait()  # Forge closed the connection rather than draining it
    assert str(refused.value) == f"{what} is larger than {CAP} bytes (UPSTREAM_MAX_RESPONSE_BYTES)"


async def test_lines_split_anywhere_are_reassembled():
    body = b"first\r\nsecond line\n\r\n" + b"y" * 5000 + b"\r\nlast without an end"
    for size in (1, 2, 3, 7, 4096):  # \r\n falls across a chunk boundary at odd sizes
        lines = [line async for line in text_lines(Chunks(split_every(body, size)), limit=5000)]
        assert lines == ["first", "second line", "", "y" * 5000, "last without an end"]


async def test_a_line_over_the_limit_is_refused_even_when_it_arrives_in_one_piece():
    for chunks in ([b"ok\n" + b"z" * 101 + b"\nmore\n"], split_every(b"ok\n" + b"z" * 101, 10)):
        seen = []
        with pytest.raises(AnswerTooLarge, match="UPSTREAM_MAX_RESPONSE_BYTES"):
            async for line in text_lines(Chunks(chunks), limit=100):
                seen.append(line)
        assert seen == ["ok"]


async def test_an_event_of_many_lines_over_the_limit_is_refused():
    small = {"jsonrpc": "2.0", "method": "notifications/message"}
    body = b"data: " + orjson.dumps(small) + b"\n\n" + b"data: 1234567890\n" * 20 + b"\n"
    seen = []
    with pytest.raises(AnswerTooLarge, match="a message in the upstream's answer stream is larger than 100"):
        async for message in sse_messages(text_lines(Chunks([body]), limit=100), limit=100):
            seen.append(message)
    assert seen == [small]


# --- through a gateway -------------------------------------------------------------------------


async def mcp_upstream(scope, receive, send):
    """A 2026-07-28 upstream with one tool, `big`, whose answer is a chunked JSON body four times
    UPSTREAM_MAX_RESPONSE_BYTES (as the test's Forge sets it)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    message = orjson.loads(body)
    results = {
        "server/discover": {"supportedVersions": [MODERN], "capabilities": {"tools": {}},
                            "serverInfo": {"name": "big", "version": "1"}},
        "tools/list": {"tools": [{"name": "big", "inputSchema": {"type": "object"}}]},
    }
    if message["method"] == "tools/call":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        for piece in split_every(answer(message["id"], 4 * CAP), 8192):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if message["method"] in results:
        answered = {"jsonrpc": "2.0", "id": message["id"], "result": results[message["method"]]}
    else:
        answered = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "no"}}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps(answered)})


def test_a_federated_tools_call_answering_too_much_is_an_error_result(start_forge):
    upstream = AsgiServerThread(mcp_upstream).start()
    try:
        forge = start_forge(upstream_max_response_bytes=CAP)
        record = register(forge, name="huge", url=upstream.url + "/mcp")
        assert record["state"] == "healthy", record
        result = call(forge, "huge.big")
        assert result["isError"] is True
        assert text(result) == (
            f"upstream 'huge' answered tools/call, but the upstream's answer is larger than {CAP} "
            "bytes (UPSTREAM_MAX_RESPONSE_BYTES)"
        )
        # an answer, not an outage: the gateway stays healthy
        assert httpx.get(f"{forge.url}/gateways/{record['id']}", timeout=30).json()["state"] == "healthy"
    finally:
        upstream.stop()
