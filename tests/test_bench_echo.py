"""The benchmark's MCP upstream (`bench/echo.py`'s POST /mcp, `bench/mcp_echo.py`): it answers what
Forge's federation asks of a streamable_http upstream, Forge federates it the way `bench/run.py`
registers it, and the bench's "direct to MCP echo" row sends the very request Forge sends upstream.

The echo app runs in-process under Hypercorn (in a thread, like the `forge` fixture), wrapped so
the test sees each request that reached /mcp.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import AsgiServerThread, free_port

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # the bench's modules import each other by their plain names
try:
    import echo as bench_echo
    import run as bench_run
finally:
    sys.path.remove(str(BENCH))

TOOLS_CALL = {"name": "echo", "arguments": {"text": "hi"}}
ECHOED = '{"echo":{"text":"hi"}}'  # what the REST echo answers for the same arguments


class EchoServer(AsgiServerThread):
    """bench/echo.py's app on a loopback port, in a thread; `received` holds each /mcp request as
    (headers, JSON body)."""

    what = "the echo server"

    def __init__(self):
        super().__init__(self._app)
        self.received: list[tuple[dict[str, str], dict]] = []

    async def _app(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/mcp" or scope["method"] != "POST":
            return await bench_echo.app(scope, receive, send)
        chunks = []

        async def recorded():
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                with contextlib.suppress(ValueError):
                    headers = {name.decode(): value.decode() for name, value in scope["headers"]}
                    self.received.append((headers, json.loads(b"".join(chunks))))
            return message

        return await bench_echo.app(scope, recorded, send)


@pytest.fixture
def echo_server():
    server = EchoServer().start()
    yield server
    server.stop()


def mcp(server: EchoServer, method: str, params: dict | None = None, **extra) -> httpx.Response:
    message = {"jsonrpc": "2.0", "method": method, **extra}
    if params is not None:
        message["params"] = params
    accept = {"accept": "application/json, text/event-stream"}
    return httpx.post(server.url + "/mcp", json=message, headers=accept)


def modern_meta() -> dict:
    return {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}


def bench_for(forge, tmp_path, mcp_url: str) -> bench_run.Bench:
    """run.py's Bench talking to `forge`, its MCP echo at `mcp_url` (no process started)."""
    bench = bench_run.Bench(bench_run.Plan(warmup=0, duration=1, tools=20), tmp_path)
    bench.forge_port = forge.port
    bench.api = bench_run.Api(forge.port)
    bench.mcp_echo_url = mcp_url
    return bench


# --- the MCP echo on its own ---------------------------------------------------------------------


def test_the_mcp_echo_answers_discover_initialize_tools_list_and_tools_call(echo_server):
    discovered = mcp(echo_server, "server/discover", modern_meta(), id=1).json()["result"]
    assert "2026-07-28" in discovered["supportedVersions"]
    assert "tools" in discovered["capabilities"]
    assert discovered["resultType"] == "complete"

    started = mcp(echo_server, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}, id=2)
    assert started.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "mcp-session-id" not in started.headers  # stateless in both eras
    initialized = mcp(echo_server, "notifications/initialized")
    assert (initialized.status_code, initialized.content) == (202, b"")

    (tool,) = mcp(echo_server, "tools/list", modern_meta(), id=3).json()["result"]["tools"]
    assert tool["name"] == "echo"
    assert tool["inputSchema"]["properties"]["text"] == {"type": "string"}

    answer = mcp(echo_server, "tools/call", {**TOOLS_CALL, **modern_meta()}, id=4)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "jsonrpc": "2.0",
        "id": 4,
        "result": {
            "content": [{"type": "text", "text": ECHOED}],
            "isError": False,
            "resultType": "complete",
            "_meta": {"io.modelcontextprotocol/serverInfo": bench_echo.mcp_echo.SERVER_INFO},
        },
    }
    handshake = mcp(echo_server, "tools/call", TOOLS_CALL, id=5).json()["result"]
    # A handshake-era request gets no 2026-only members.
    assert handshake == {"content": [{"type": "text", "text": ECHOED}], "isError": False}


def test_the_mcp_echo_refuses_what_it_does_not_serve_clearly(echo_server):
    unknown = mcp(echo_server, "resources/list", {}, id=7).json()
    assert unknown["id"] == 7 and unknown["error"]["code"] == -32601
    no_such_tool = mcp(echo_server, "tools/call", {"name": "nope", "arguments": {}}, id=8).json()
    assert no_such_tool["error"]["code"] == -32602
    no_text = mcp(echo_server, "tools/call", {"name": "echo", "arguments": {}}, id=9).json()
    assert no_text["result"]["isError"] is True

    not_json = httpx.post(echo_server.url + "/mcp", content=b"{not json")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
    stream = httpx.get(echo_server.url + "/mcp")
    assert stream.status_code == 405 and stream.headers["allow"] == "POST"


def test_the_rest_echo_still_answers_beside_it(echo_server):
    assert httpx.post(echo_server.url + "/echo", json={"text": "hi"}).json() == {"echo": {"text": "hi"}}


# --- through Forge, registered as bench/run.py does ----------------------------------------------


def test_forge_federates_the_mcp_echo_in_the_stateless_era_as_the_bench_registers_it(
    forge, api, echo_server, tmp_path
):
    bench = bench_for(forge, tmp_path, echo_server.url + "/mcp")
    bench.register_mcp_echo()

    gateway = api.get(f"/gateways/{bench.gateway_id}").json()
    assert gateway["state"] == "healthy"
    assert gateway["capabilities"]["protocolVersion"] == "2026-07-28"
    listed = api.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()
    assert bench_run.MCP_TOOL in [tool["name"] for tool in listed["result"]["tools"]]
    methods = [body["method"] for _, body in echo_server.received]
    assert methods[0] == "server/discover" and "tools/list" in methods and "initialize" not in methods

    target = bench_run.call_targets(echo_server.port, forge.port)["Forge /rpc (MCP upstream)"]
    answer = api.post("/rpc", json=target["body"], headers=target["headers"]).json()["result"]
    assert answer["content"] == [{"type": "text", "text": '{"echo":{"text":"hello"}}'}]
    assert target["expect"] in json.dumps(answer, separators=(",", ":"))


def test_the_bench_direct_mcp_row_sends_the_request_forge_sends_upstream(forge, api, echo_server, tmp_path):
    bench = bench_for(forge, tmp_path, echo_server.url + "/mcp")
    bench.register_mcp_echo()
    echo_server.received.clear()
    targets = bench_run.call_targets(echo_server.port, forge.port)
    api.post("/rpc", json=targets["Forge /rpc (MCP upstream)"]["body"]).raise_for_status()

    calls = [request for request in echo_server.received if request[1]["method"] == "tools/call"]
    ((forge_headers, forge_body),) = calls
    direct = targets[bench_run.DIRECT_MCP]
    assert {name.lower(): value for name, value in direct["headers"].items()} == {
        name: forge_headers[name] for name in ("accept", "mcp-protocol-version", "mcp-method", "mcp-name")
    }
    assert {**direct["body"], "id": None} == {**forge_body, "id": None}

    answer = httpx.post(echo_server.url + direct["path"], json=direct["body"], headers=direct["headers"])
    assert direct["expect"] in answer.text


def test_registering_an_unreachable_mcp_echo_fails_clearly_within_its_bound(forge, tmp_path):
    bench = bench_for(forge, tmp_path, f"http://127.0.0.1:{free_port()}/mcp")
    refused = r"did not serve the MCP echo's tool 'mcp.echo' within 1 s: .*'unhealthy'"
    with pytest.raises(RuntimeError, match=refused):
        bench.register_mcp_echo(timeout=1)
