"""Guessing passwords or tokens is slowed down: past AUTH_MAX_FAILURES failures from one address
within AUTH_FAILURE_WINDOW seconds, that address is answered 429 with Retry-After, on the
management API and MCP endpoints alike, even when it finally sends the right password."""

from __future__ import annotations

import time

import httpx

ACCEPT = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def from_address(forge, address: str) -> httpx.Client:
    return httpx.Client(base_url=forge.url, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_ten_failures_a_minute_then_429_with_retry_after(start_forge):
    forge = start_forge(auth_required=True, basic_auth_password="right", jwt_secret_key="s" * 64)
    with from_address(forge, "127.0.0.1") as guesser, from_address(forge, "127.0.0.2") as bystander:
        for attempt in range(10):
            wrong = ("admin", f"guess-{attempt}") if attempt % 2 else None
            headers = {} if wrong else {"authorization": "Bearer forged.token.value"}
            assert guesser.get("/tools", auth=wrong, headers=headers).status_code == 401, attempt

        throttled = guesser.get("/tools", auth=("admin", "right"))
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "too_many_failures"
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        mcp = guesser.post("/mcp", json=PING, headers=ACCEPT, auth=("admin", "right"))
        assert mcp.status_code == 429 and "retry-after" in mcp.headers

        assert bystander.get("/tools", auth=("admin", "right")).status_code == 200
        assert guesser.get("/health").status_code == 200  # probes need no credentials


def test_the_window_passes_and_requests_without_credentials_do_not_count(start_forge, monkeypatch):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "3")
    monkeypatch.setenv("AUTH_FAILURE_WINDOW", "1")
    forge = start_forge(auth_required=True, basic_auth_password="right")
    with from_address(forge, "127.0.0.1") as client:
        for _ in range(5):
            assert client.get("/tools").status_code == 401  # no credentials: nothing was guessed
        for _ in range(3):
            assert client.get("/tools", auth=("admin", "wrong")).status_code == 401
        assert client.get("/tools", auth=("admin", "right")).status_code == 429
        time.sleep(1.1)
        assert client.get("/tools", auth=("admin", "right")).status_code == 200


def test_zero_turns_throttling_off(start_forge, monkeypatch):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "0")
    forge = start_forge(auth_required=True, basic_auth_password="right")
    with from_address(forge, "127.0.0.1") as client:
        for _ in range(15):
            assert client.get("/tools", auth=("admin", "wrong")).status_code == 401
        assert client.get("/tools", auth=("admin", "right")).status_code == 200
