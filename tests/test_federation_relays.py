"""Federation relays what happens during a call: progress, log messages, and the upstream's need for
the client's input (sampling, elicitation, roots), in both eras. Forge fronts the conformance
fixture server (tests/conformance/everything_server.py, built with the official SDK) with no
prefix; the clients are the official SDK's, or raw JSON-RPC where the wire itself is the point.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import free_port

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
EVERYTHING = Path(__file__).parent / "conformance" / "everything_server.py"
UPSTREAM = Path(__file__).parent / "federation_upstream.py"
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def everything():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EVERYTHING), "http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    process.kill()
    process.wait(10)


@pytest.fixture
def fronted(forge, everything):
    """A Forge fronting the fixture server under the upstream's own names."""
    created = httpx.post(
        forge.url + "/gateways", json={"name": "everything", "url": everything, "prefix": ""}, timeout=60
    )
    assert created.status_code == 201, created.text
    assert httpx.get(f"{forge.url}/gateways/{created.json()['id']}").json()["state"] == "healthy"
    return forge


def connect(forge, mode: str, **options) -> Client:
    return Client(streamable_http_client(forge.url + "/mcp"), mode=mode, cache=None, **options)


# --- handshake era: Forge asks the client itself -------------------------------------------------


async def test_progress_and_log_messages_reach_a_handshake_era_client(fronted):
    progress, logs = [], []

    async def on_progress(value, total, message):
        progress.append((value, total))

    async def on_log(params):
        logs.append((params.level, params.data))

    async with connect(fronted, "legacy", logging_callback=on_log) as client:
        await client.set_logging_level("debug")
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert not result.is_error
        assert progress == [(0, 100), (50, 100), (100, 100)]
        await client.call_tool("test_tool_with_logging", {})
        assert [data for _, data in logs] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]


async def test_sampling_and_elicitation_are_asked_of_a_handshake_era_client(fronted):
    asked = []

    async def sample(context, params):
        asked.append(("sampling", params.messages[0].content.text))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="m"
        )

    async def elicit(context, params):
        asked.append(("elicitation", params.message))
        return types.ElicitResult(action="accept", content={"response": "yes"})

    async with connect(fronted, "legacy", sampling_callback=sample, elicitation_callback=elicit) as client:
        sampled = await client.call_tool("test_sampling", {"prompt": "Capital of France?"})
        elicited = await client.call_tool("test_elicitation", {"message": "Agree?"})
    assert sampled.content[0].text == "LLM response: Paris"
    assert elicited.content[0].text == 'User response: action=accept, content={"response":"yes"}'
    assert asked == [("sampling", "Capital of France?"), ("elicitation", "Agree?")]


async def test_an_upstreams_input_rounds_are_asked_of_a_handshake_era_client_one_by_one(fronted):
    """The upstream speaks 2026-07-28 to Forge and answers input_required, round after round;
    Forge asks the handshake-era client each request on the call's stream and retries upstream."""
    answers = iter([{"name": "Alice"}, {"color": "blue"}])
    questions = []

    async def elicit(context, params):
        questions.append(params.message)
        return types.ElicitResult(action="accept", content=next(answers))

    async def roots(context):
        return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])

    async with connect(fronted, "legacy", elicitation_callback=elicit, list_roots_callback=roots) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
        assert result.content[0].text == "Multi-round complete for Alice who likes blue"
        assert questions == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]
        listed = await client.call_tool("test_input_required_result_list_roots", {})
        assert listed.content[0].text == "Found 1 root(s)"


# --- 2026-07-28: the client answers input_required itself ----------------------------------------


async def test_a_2026_client_gets_progress_logs_and_input_rounds_through_forge(fronted):
    progress, logs = [], []

    async def on_progress(value, total, message):
        progress.append(value)

    async def on_log(params):
        logs.append(params.data)

    async def elicit(context, params):
        return types.ElicitResult(action="accept", content={"name": "Alice", "context": "tests"})

    async with connect(
        fronted, "auto", log_level="debug", logging_callback=on_log, elicitation_callback=elicit
    ) as client:
        assert client.protocol_version == MODERN
        await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert progress == [0, 50, 100]
        await client.call_tool("test_logging_tool", {})
        assert logs == ["Diagnostic trace logging activated"]
        greeted = await client.call_tool("test_input_required_result_elicitation", {})
        assert greeted.content[0].text == "Hello, Alice!"
        prompt = await client.get_prompt("test_input_required_result_prompt", {})
        assert prompt.messages[0].content.text == "Prompt with context: tests"


def post(forge, method: str, params: dict, *, capabilities: dict | None = None, request_id: int = 1):
    """One raw 2026-07-28 request, headers and `_meta` as the revision asks."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities
        if capabilities is not None
        else {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if "name" in params:
        headers["mcp-name"] = params["name"]
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}
    return httpx.post(forge.url + "/mcp", json=body, headers=headers, timeout=30)


def test_input_required_and_its_request_state_pass_through_verbatim(fronted):
    first = post(fronted, "tools/call", {"name": "test_input_required_result_request_state", "arguments": {}})
    result = first.json()["result"]
    assert result["resultType"] == "input_required"
    assert list(result["inputRequests"]) == ["confirm"]
    state = result["requestState"]
    answer = {"confirm": {"action": "accept", "content": {"ok": True}}}
    retry = {"name": "test_input_required_result_request_state", "arguments": {}, "inputResponses": answer}
    done = post(fronted, "tools/call", {**retry, "requestState": state}, request_id=2).json()["result"]
    assert (done["resultType"], done["content"][0]["text"]) == (
        "complete",
        "state-ok: requestState validated",
    )
    tampered = post(fronted, "tools/call", {**retry, "requestState": state + "-TAMPERED"}, request_id=3)
    assert tampered.json()["error"]["code"] == -32602


def test_an_upstreams_missing_capability_error_reaches_the_client_with_its_http_status(fronted):
    refused = post(
        fronted, "tools/call", {"name": "test_missing_capability", "arguments": {}}, capabilities={}
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == -32021
    assert error["data"] == {"requiredCapabilities": {"sampling": {}}}
    allowed = post(
        fronted,
        "tools/call",
        {"name": "test_missing_capability", "arguments": {}},
        capabilities={"sampling": {}},
    )
    assert allowed.json()["result"]["content"][0]["text"] == "Success"


async def test_a_handshake_era_client_that_cannot_answer_hears_why(fronted):
    async with connect(fronted, "legacy") as client:  # declares neither sampling nor elicitation
        with pytest.raises(MCPError) as refused:
            await client.call_tool("test_input_required_result_elicitation", {})
    assert "elicitation" in refused.value.error.message


# --- a stream upstream asks mid-call, as handshake-era servers do --------------------------------


@pytest.fixture
def stdio_fronted(forge):
    """A Forge fronting an SDK server over stdio, whose tools ask the client with `ctx.elicit()`,
    `create_message()` and `list_roots()`: requests on the channel, which only the handshake era has."""
    return front_stdio(forge)


def front_stdio(forge):
    command = f"{sys.executable} {UPSTREAM} stdio --name local"
    created = httpx.post(
        forge.url + "/gateways",
        json={"name": "local", "url": command, "transport": "stdio", "prefix": ""},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "healthy", created.json()["last_error"]
    return forge


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_stdio_upstreams_requests_reach_the_client_in_either_era(stdio_fronted, mode):
    """A handshake-era client is asked on its call's stream; a 2026-07-28 client gets each request
    as an input_required result while Forge holds the upstream call open, and its retry answers it."""
    asked = []

    async def elicit(context, params):
        asked.append(("elicitation", params.message))
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def sample(context, params):
        asked.append(("sampling", params.messages[0].content.text))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="m"
        )

    async def roots(context):
        asked.append(("roots", None))
        return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])

    callbacks = {"elicitation_callback": elicit, "sampling_callback": sample, "list_roots_callback": roots}
    async with connect(stdio_fronted, mode, **callbacks) as client:
        assert (client.protocol_version == MODERN) == (mode == "auto")
        named = await client.call_tool("ask_name", {})
        sampled = await client.call_tool("ask_model", {"question": "Capital of France?"})
        listed = await client.call_tool("show_roots", {})
        again = await client.call_tool("ask_name", {})
    texts = [result.content[0].text for result in (named, sampled, listed, again)]
    assert texts == [
        "hello Ada",
        "the model says Paris",
        "roots: file:///work",
        "hello Ada",
    ]
    assert asked == [
        ("elicitation", "What is your name?"),
        ("sampling", "Capital of France?"),
        ("roots", None),
        ("elicitation", "What is your name?"),
    ]


def test_a_held_calls_request_state_is_answered_once_and_by_its_caller_only(stdio_fronted):
    first = post(stdio_fronted, "tools/call", {"name": "ask_name", "arguments": {}}).json()["result"]
    assert first["resultType"] == "input_required"
    assert [request["method"] for request in first["inputRequests"].values()] == ["elicitation/create"]
    [key] = first["inputRequests"]
    answer = {key: {"action": "accept", "content": {"name": "Grace"}}}
    retry = {"name": "ask_name", "arguments": {}, "inputResponses": answer}
    state = first["requestState"]
    unknown = post(stdio_fronted, "tools/call", {**retry, "requestState": state + "x"}, request_id=2)
    assert unknown.json()["error"]["code"] == -32602
    done = post(stdio_fronted, "tools/call", {**retry, "requestState": state}, request_id=3)
    assert done.json()["result"]["content"][0]["text"] == "hello Grace"
    replayed = post(stdio_fronted, "tools/call", {**retry, "requestState": state}, request_id=4)
    assert replayed.json()["error"]["code"] == -32602


def test_a_held_call_whose_client_never_comes_back_ends_and_the_upstream_is_free(start_forge):
    forge = front_stdio(start_forge(federation_timeout=4))
    from forge_plugins.federation import federation_of

    held = federation_of(forge.gateway).adapter.held
    first = post(forge, "tools/call", {"name": "ask_name", "arguments": {}}).json()["result"]
    assert first["resultType"] == "input_required"
    for _ in range(300):  # the upstream call ends at FEDERATION_TIMEOUT; bounded wait for it
        if not held._calls:
            break
        time.sleep(0.1)
    assert not held._calls
    [key] = first["inputRequests"]
    late = {"inputResponses": {key: {"action": "accept", "content": {"name": "Late"}}}}
    retry = {"name": "ask_name", "arguments": {}, **late, "requestState": first["requestState"]}
    assert post(forge, "tools/call", retry, request_id=2).json()["error"]["code"] == -32602
    echoed = post(forge, "tools/call", {"name": "echo", "arguments": {"text": "still here"}}, request_id=3)
    assert echoed.json()["result"]["content"][0]["text"] == "local: still here"
