"""A management API answer sent before the request body was read says `Connection: close`, so a
keep-alive client opens a new connection for its next request instead of writing into a closed one."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from forge.keepalive import close_when_body_unread, has_body

SECRET = "keepalive-test-secret-0123456789abcdef"
PASSWORD = "keepalive-password"
BIG = 1_000_000  # larger than the socket buffers: the server cannot have read it all by accident


def tool_body(padding: int) -> str:
    return json.dumps({"name": "kept", "url": "http://127.0.0.1:9/", "input_schema": {"type": "object"},
                       "description": "d" * padding})


def test_a_refusal_before_the_body_was_read_closes_and_the_next_request_on_the_client_succeeds(start_forge):
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)
    client = http.client.HTTPConnection("127.0.0.1", forge.port, timeout=30)
    try:
        client.request("POST", "/tools", tool_body(BIG), {"content-type": "application/json"})
        refused = client.getresponse()
        refused.read()
        assert refused.status == 401
        assert refused.getheader("connection") == "close"

        # http.client reconnects after a close it was told of; untold, this request would fail.
        login = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        client.request("GET", "/tools", headers={"authorization": f"Basic {login}"})
        listed = client.getresponse()
        assert listed.status == 200, listed.read()
        listed.read()
    finally:
        client.close()


def test_an_answer_after_the_whole_body_keeps_the_connection(start_forge):
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)
    login = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    client = http.client.HTTPConnection("127.0.0.1", forge.port, timeout=30)
    try:
        client.request("POST", "/tools", tool_body(10), {"content-type": "application/json", "authorization": f"Basic {login}"})
        created = client.getresponse()
        created.read()
        assert created.status == 201
        assert created.getheader("connection") is None
        socket_before = client.sock
        client.request("GET", "/tools", headers={"authorization": f"Basic {login}"})
        listed = client.getresponse()
        listed.read()
        assert listed.status == 200
        assert client.sock is socket_before  # the same connection carried both
    finally:
        client.close()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        ([(b"content-length", b"0")], False),
        ([(b"content-length", b"12")], True),
        ([(b"transfer-encoding", b"chunked")], True),
    ],
)
def test_has_body(headers, expected):
    assert has_body({"headers": headers}) is expected


async def test_the_wrapper_passes_answers_through_when_the_body_was_read():
    sent = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", b"2")]}
    await close_when_body_unread(app)(scope, receive, send)
    assert sent[0]["headers"] == []
