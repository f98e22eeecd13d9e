"""Prometheus metrics at /metrics (the observability plugin): every MCP request counted and timed by
method, tool, transport and outcome, upstream calls timed, open sessions and cache reads counted;
guarded like the API's reads; summed over the workers of `forge serve` in multiprocess mode; gone
with the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from forge_plugins.auth_basic_jwt import create_token
from tests.conftest import free_port

JSON = {"accept": "application/json", "content-type": "application/json"}
SECRET = "observability-test-secret-of-32-bytes"


def rpc(client: httpx.Client, method: str, params: dict | None = None, **headers) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return client.post("/rpc", json=body, headers={**JSON, **headers}).json()


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the exposition `text`, or None when it is not there."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()):
                return found.value
    return None


def test_a_tool_call_shows_its_counter_and_latency_sample(api, rest_upstream):
    api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
    assert rpc(api, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})["result"]["isError"] is False
    text = api.get("/metrics").text
    call = {"method": "tools/call", "tool": "echo", "transport": "streamable_http", "outcome": "ok"}
    assert sample(text, "forge_mcp_requests_total", **call) == 1
    assert sample(text, "forge_mcp_request_duration_seconds_count", **call) == 1
    assert sample(text, "forge_mcp_request_duration_seconds_sum", **call) > 0
    assert sample(text, "forge_mcp_request_duration_seconds_bucket", **call, le="+Inf") == 1
    upstream = {"integration_type": "REST", "tool": "echo", "outcome": "ok"}
    assert sample(text, "forge_upstream_request_duration_seconds_count", **upstream) == 1


def test_outcomes_are_told_apart_and_clients_cannot_invent_label_values(api, rest_upstream):
    api.post("/tools", json={"name": "broken", "url": rest_upstream + "/status/500"}).raise_for_status()
    assert rpc(api, "tools/call", {"name": "broken", "arguments": {}})["result"]["isError"] is True
    assert rpc(api, "tools/call", {"name": "no-such-tool-1", "arguments": {}})["error"]["code"] == -32602
    assert rpc(api, "tools/call", {"name": "no-such-tool-2", "arguments": {}})["error"]["code"] == -32602
    assert rpc(api, "made/up")["error"]["code"] == -32601
    text = api.get("/metrics").text
    assert (
        sample(text, "forge_mcp_requests_total", method="tools/call", tool="broken", outcome="tool_error")
        == 1
    )
    assert sample(text, "forge_upstream_request_duration_seconds_count", tool="broken", outcome="error") == 1
    # Unknown tools and methods share one label value each, however many names clients try.
    assert sample(text, "forge_mcp_requests_total", method="tools/call", tool="", outcome="error") == 2
    assert sample(text, "forge_mcp_requests_total", method="other", tool="", outcome="error") == 1
    assert "no-such-tool" not in text and "made/up" not in text


def test_an_upstream_that_refuses_the_connection_is_timed_once_as_an_error(api):
    closed = f"http://127.0.0.1:{free_port()}/nothing-listens"
    api.post("/tools", json={"name": "refused", "url": closed}).raise_for_status()
    assert rpc(api, "tools/call", {"name": "refused", "arguments": {}})["result"]["isError"] is True
    text = api.get("/metrics").text
    upstream = {"integration_type": "REST", "tool": "refused"}
    assert sample(text, "forge_upstream_request_duration_seconds_count", **upstream, outcome="error") == 1
    assert sample(text, "forge_upstream_request_duration_seconds_count", **upstream, outcome="ok") is None


def test_open_sessions_and_cache_reads_are_counted(forge, api):
    api.post(
        "/resources", json={"uri": "docs://readme", "name": "readme", "content": "hello"}
    ).raise_for_status()
    opened = api.post(
        "/mcp",
        headers=JSON,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
    )
    assert opened.status_code == 200
    for _ in range(2):
        assert (
            rpc(api, "resources/read", {"uri": "docs://readme"})["result"]["contents"][0]["text"] == "hello"
        )
    text = api.get("/metrics").text
    assert sample(text, "forge_mcp_sessions_open") == 1
    assert sample(text, "forge_cache_reads_total", result="miss") == 1
    assert sample(text, "forge_cache_reads_total", result="hit") == 1
    api.request(
        "DELETE", "/mcp", headers={"mcp-session-id": opened.headers["mcp-session-id"]}
    ).raise_for_status()
    assert sample(api.get("/metrics").text, "forge_mcp_sessions_open") == 0


def test_metrics_want_the_read_right_when_authentication_is_on(start_forge, monkeypatch):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    assert httpx.get(forge.url + "/metrics").status_code == 401
    reader = {"authorization": f"Bearer {create_token('scraper', SECRET, scopes=['read'])}"}
    scraped = httpx.get(forge.url + "/metrics", headers=reader)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    monkeypatch.setenv("OBSERVABILITY_METRICS_PUBLIC", "true")
    open_one = start_forge(auth_required=True, jwt_secret_key=SECRET)
    assert httpx.get(open_one.url + "/metrics").status_code == 200
    assert httpx.get(open_one.url + "/tools").status_code == 401  # only /metrics is opened


def test_without_the_plugin_there_are_no_metrics(start_forge, rest_upstream):
    forge = start_forge(plugins_disabled=["observability"])
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        assert rpc(api, "tools/call", {"name": "echo", "arguments": {}})["result"]["isError"] is False
        assert api.get("/metrics").status_code == 404


def test_with_metrics_turned_off_there_is_no_endpoint(start_forge, monkeypatch):
    monkeypatch.setenv("OBSERVABILITY_METRICS", "false")
    forge = start_forge()
    assert httpx.get(forge.url + "/metrics").status_code == 404


@pytest.mark.slow
@pytest.mark.redis
def test_several_workers_share_their_counts(tmp_path, rest_upstream, redis_server):
    """`forge serve` with WORKERS=2 and PROMETHEUS_MULTIPROC_DIR: whichever worker a scrape
    reaches, it answers the requests of both. Several workers share state through Redis."""
    port, folder = free_port(), tmp_path / "prometheus"
    folder.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OBSERVABILITY_", "AUDIT_", "OTEL_"))
    }
    env.update(
        AUTH_REQUIRED="false",
        WORKERS="2",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/forge.db",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        LOG_LEVEL="WARNING",
        CACHE_TYPE="redis",
        REDIS_URL=redis_server,
        REDIS_PREFIX=f"forge-test-{os.urandom(6).hex()}",
    )
    forge_bin = Path(sys.executable).with_name("forge")
    server = subprocess.Popen(
        [str(forge_bin), "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for _ in range(20):  # a fresh connection each, so both workers answer some
            with httpx.Client(base_url=url) as client:
                assert rpc(client, "ping") == {"jsonrpc": "2.0", "id": 1, "result": {}}
        for _ in range(10):
            with httpx.Client(base_url=url) as client:
                text = client.get("/metrics").text
            assert sample(text, "forge_mcp_requests_total", method="ping", outcome="ok") == 20
        pids = {path.name.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}
        assert len(pids) == 2, sorted(folder.iterdir())  # both workers counted something
    finally:
        server.terminate()
        server.wait(30)
