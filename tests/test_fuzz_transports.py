"""Each transport's framing under generated input, through its ASGI handler with no server in
between: Streamable HTTP POSTs (/mcp and /rpc), HTTP+SSE message POSTs, WebSocket frames. Arbitrary
bytes, broken JSON, batches, deep nesting, huge numbers and odd headers never crash a transport or
hang it, never answer 5xx, and are always answered with a JSON-RPC error of the right code."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import (
    FUZZ,
    HEADERS,
    ErrorLogs,
    Exchange,
    LoopGateway,
    bodies,
    check_http_error,
    check_message,
    decode_error,
)

JSON_POST = [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream")]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    gateway = LoopGateway(tmp_path_factory.mktemp("fuzz-transports"))
    yield gateway
    gateway.close()


@FUZZ
@given(path=st.sampled_from(["/mcp", "/rpc"]), extra=HEADERS, body=bodies(), plain=st.booleans())
def test_streamable_http_posts_are_answered_cleanly(fuzzed, path, extra, body, plain):
    headers = JSON_POST if plain else [*JSON_POST, *extra]
    with ErrorLogs() as errors:
        exchange = fuzzed.run(Exchange(fuzzed.app, "POST", path, headers, body).run())
    errors.check()
    assert exchange.status is not None and exchange.status < 500, exchange.content
    if exchange.status >= 400:
        check_http_error(exchange)
    elif exchange.status == 202:
        assert exchange.content == b""
    else:
        for message in exchange.messages():
            check_message(message)
    expected = decode_error(body)
    if plain and expected is not None:
        check_http_error(exchange, expected)
        assert exchange.status == 400


# --- HTTP+SSE: messages POSTed to the URL the stream names -----------------------------------------


@pytest.fixture(scope="module")
def sse_stream(fuzzed):
    stream = Exchange(fuzzed.app, "GET", "/sse", [(b"accept", b"text/event-stream")], linger=3600)
    task = fuzzed.loop.create_task(stream.run())

    async def endpoint():
        while b"event: endpoint" not in stream.content:
            await asyncio.sleep(0.01)
        data = stream.content.split(b"event: endpoint\ndata: ")[1].split(b"\n")[0].decode()
        return urlsplit(data)

    yield stream, fuzzed.run(endpoint())
    task.cancel()
    fuzzed.run(asyncio.gather(task, return_exceptions=True))


@FUZZ
@given(extra=HEADERS, body=bodies(), plain=st.booleans())
def test_sse_message_posts_are_answered_cleanly(fuzzed, sse_stream, extra, body, plain):
    stream, endpoint = sse_stream
    headers = JSON_POST if plain else [*JSON_POST, *extra]
    with ErrorLogs() as errors:
        exchange = Exchange(fuzzed.app, "POST", endpoint.path, headers, body, query=endpoint.query.encode())
        fuzzed.run(exchange.run())
        fuzzed.run(asyncio.sleep(0.01))  # let the engine's answer reach the stream
    errors.check()
    assert exchange.status is not None and exchange.status < 500, exchange.content
    if exchange.status >= 400:
        check_http_error(exchange)
    else:
        assert exchange.status == 202
    expected = decode_error(body)
    if plain and expected is not None:
        check_http_error(exchange, expected)
    for message in stream.messages():  # every event the stream carried so far
        check_message(message)


# --- WebSocket: one message per frame ------------------------------------------------------------

FRAMES = st.one_of(
    bodies().map(lambda raw: {"text": raw.decode("utf-8", "replace")}),
    st.binary(max_size=50).map(lambda raw: {"bytes": raw}),
)


def expected_frame_error(frame: dict) -> int | None:
    if "bytes" in frame:
        return -32600
    return decode_error(frame["text"].encode())


@FUZZ
@given(frames=st.lists(FRAMES, min_size=1, max_size=4))
def test_websocket_frames_are_answered_cleanly(fuzzed, frames):
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/ws", "raw_path": b"/ws",
        "root_path": "", "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "subprotocols": ["mcp"],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 4444), "extensions": {},
    }  # fmt: skip
    expected = [code for code in map(expected_frame_error, frames) if code is not None]
    events = [{"type": "websocket.connect"}, *({"type": "websocket.receive", **frame} for frame in frames)]
    sent: list[dict] = []

    async def receive():
        if events:
            return events.pop(0)
        for _ in range(200):  # the errors the frames call for are written out before the client leaves
            if len([m for m in sent if m["type"] == "websocket.send"]) >= len(expected):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message)

    with ErrorLogs() as errors:
        fuzzed.run(fuzzed.app(scope, receive, send))
    errors.check()
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "mcp"}
    answers = [orjson.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]
    for answer in answers:
        check_message(answer)
    errors_by_code = sorted(a["error"]["code"] for a in answers if "error" in a and a["id"] is None)
    for code in set(expected):
        assert errors_by_code.count(code) >= expected.count(code), (frames, answers)
