"""The Streamable HTTP wire, byte by byte: what Forge answers to malformed, misrouted and hostile
requests in both protocol eras, and that it keeps serving well-formed ones afterwards."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.conftest import ACCEPT

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw-httpx", "version": "0"},
}


@pytest.fixture
def tool(api, rest_upstream) -> dict:
    answer = api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo", "method": "GET"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def modern(method: str, params: dict | None = None, *, id=1, name: str | None = None, **headers) -> dict:
    """Keyword arguments for a well-formed 2026-07-28 POST (headers may be overridden)."""
    routing = {"mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        routing["mcp-name"] = name
    routing.update({key.replace("_", "-"): value for key, value in headers.items()})
    routing = {key: value for key, value in routing.items() if value is not None}
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": META, **(params or {})}}
    return {"json": body, "headers": routing}


def initialize(wire, path: str = "/mcp") -> str:
    answer = wire.post(
        path,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["protocolVersion"] == "2025-11-25"
    session_id = answer.headers["mcp-session-id"]
    notified = wire.post(
        path,
        headers={"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"},
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    assert notified.status_code == 202
    assert notified.content == b""
    return session_id


def legacy(wire, session_id: str, method: str, params: dict | None = None, id=1) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return wire.post(
        "/mcp", headers={"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}, json=body
    )


def error_of(answer: httpx.Response, status: int, code: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code, error
    return error


def serves_normally(wire) -> None:
    """A well-formed 2026 call still gets its ordinary answer."""
    answer = wire.post(
        "/mcp", **modern("tools/call", {"name": "echo", "arguments": {"q": "still"}}, name="echo")
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["isError"] is False
    assert '"q": "still"' in result["content"][0]["text"]


# --- JSON-RPC framing, both eras -------------------------------------------------------------------


def test_a_body_that_is_not_json_is_a_parse_error(wire, tool):
    for body in (b"{not json", b"", b'{"jsonrpc": "2.0", "id": 1,', b"\xff\xfe"):
        answer = wire.post("/mcp", content=body)
        error_of(answer, 400, -32700)
        assert answer.json()["id"] is None
    serves_normally(wire)


WRONG_SHAPES = [
    ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}, None),
    ({"jsonrpc": "2.0", "id": [1], "method": "tools/list"}, None),
    ({"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}, None),
    ({"jsonrpc": "2.0", "id": True, "method": "tools/list"}, None),
    ({"jsonrpc": "2.0", "id": None, "method": "tools/list"}, None),
    ({"jsonrpc": "2.0", "id": 7, "method": 42}, 7),
    ({"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": [1, 2]}, 8),
    ({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": "x"}, 9),
    ({"jsonrpc": "1.0", "id": 10, "method": "tools/list"}, 10),
    ({"id": 11, "method": "tools/list"}, 11),
    ({"jsonrpc": "2.0", "id": 12}, 12),
    ("just a string", None),
    (42, None),
    (None, None),
]


def test_a_message_of_the_wrong_shape_is_an_invalid_request(wire, tool):
    for message, echoed_id in WRONG_SHAPES:
        answer = wire.post("/mcp", content=orjson.dumps(message))
        error_of(answer, 400, -32600)
        assert answer.json()["id"] == echoed_id, message
    serves_normally(wire)


def test_json_rpc_batches_are_refused(wire, tool):
    for batch in ([], [modern("tools/list")["json"], modern("tools/list", id=2)["json"]]):
        error = error_of(wire.post("/mcp", headers=modern("tools/list")["headers"], json=batch), 400, -32600)
        assert "batch" in error["message"]
    serves_normally(wire)


def test_a_body_over_the_limit_is_413(wire, tool):
    huge = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * (5 * 1024 * 1024)}}
    error_of(wire.post("/mcp", json=huge), 413, -32600)
    serves_normally(wire)


def test_a_body_that_is_not_json_typed_is_415(wire, tool):
    request = modern("tools/list")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = wire.post(
            "/mcp",
            content=orjson.dumps(request["json"]),
            headers={**request["headers"], "content-type": content_type},
        )
        error_of(answer, 415, -32600)
    serves_normally(wire)


def test_a_client_that_accepts_neither_json_nor_sse_is_406(wire, tool):
    request = modern("tools/list")
    for accept in ("text/html", "image/png", "application/xml"):
        answer = wire.post("/mcp", headers={**request["headers"], "accept": accept}, json=request["json"])
        error_of(answer, 406, -32600)
    serves_normally(wire)


def test_other_http_methods_are_405(wire, tool):
    for method in ("PUT", "PATCH"):
        answer = wire.request(method, "/mcp", json={})
        assert answer.status_code == 405
        assert "POST" in answer.headers["allow"]
    assert wire.get("/mcp").status_code == 405  # no session, no stream
    rpc = wire.get("/rpc")
    assert (rpc.status_code, rpc.headers["allow"]) == (405, "POST")


def test_a_browser_from_another_origin_is_403(wire, tool):
    request = modern("tools/list")
    for origin in ("https://evil.example", "http://192.168.1.5:8080", "null"):
        answer = wire.post("/mcp", headers={**request["headers"], "origin": origin}, json=request["json"])
        error_of(answer, 403, -32600)
    for origin in ("http://localhost:3000", "http://127.0.0.1", "http://[::1]:6274"):
        answer = wire.post("/mcp", headers={**request["headers"], "origin": origin}, json=request["json"])
        assert answer.status_code == 200, (origin, answer.text)
    serves_normally(wire)


def test_configured_origins_are_allowed(start_forge, rest_upstream):
    forge = start_forge(allowed_origins="https://app.example")
    request = modern("tools/list")
    with httpx.Client(base_url=forge.url, headers=ACCEPT) as wire:
        for origin, status in (("https://app.example", 200), ("https://other.example", 403)):
            answer = wire.post("/mcp", headers={**request["headers"], "origin": origin}, json=request["json"])
            assert answer.status_code == status, origin


# --- handshake era (2025-11-25): sessions ------------------------------------------------------------


def test_a_legacy_session_lives_until_it_is_deleted(wire, tool):
    session_id = initialize(wire)
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id) and len(session_id) >= 32
    listed = legacy(wire, session_id, "tools/list")
    assert listed.status_code == 200
    result = listed.json()["result"]
    assert [t["name"] for t in result["tools"]] == ["echo"]
    assert "resultType" not in result and "ttlMs" not in result  # no 2026 fields in this era
    assert legacy(wire, session_id, "ping").json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert legacy(wire, session_id, "logging/setLevel", {"level": "info"}).json()["result"] == {}

    ended = wire.delete("/mcp", headers={"mcp-session-id": session_id})
    assert ended.status_code == 200
    error_of(legacy(wire, session_id, "tools/list"), 404, -32001)
    assert wire.delete("/mcp", headers={"mcp-session-id": session_id}).status_code == 404
    assert wire.get("/mcp", headers={"mcp-session-id": session_id}).status_code == 404


def test_initialize_works_without_a_version_header_and_counter_offers_old_versions(wire):
    for offered, agreed in (("2025-06-18", "2025-06-18"), ("1999-01-01", "2025-11-25")):
        answer = wire.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": offered, "capabilities": {}},
            },
        )
        assert answer.status_code == 200
        result = answer.json()["result"]
        assert result["protocolVersion"] == agreed
        assert result["serverInfo"]["name"] == "Forge"
        assert result["capabilities"]["tools"] == {"listChanged": True}


def test_a_request_without_a_session_is_400(wire, tool):
    error_of(wire.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), 400, -32600)
    legacy_header = {"mcp-protocol-version": "2025-11-25"}
    error_of(
        wire.post("/mcp", headers=legacy_header, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        400,
        -32600,
    )
    serves_normally(wire)


def test_an_unknown_session_is_404(wire, tool):
    for session_id in ("0" * 32, "not-a-session", "x" * 500):
        error_of(legacy(wire, session_id, "tools/list"), 404, -32001)
    serves_normally(wire)


def test_a_session_is_bound_to_its_endpoint(wire, api, tool):
    server = api.post("/servers", json={"name": "s", "tool_ids": [tool["id"]]}).json()
    session_id = initialize(wire)
    elsewhere = f"/servers/{server['id']}/mcp"
    headers = {"mcp-session-id": session_id}
    error_of(
        wire.post(elsewhere, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        404,
        -32001,
    )
    error_of(wire.get(elsewhere, headers={**headers, "accept": "text/event-stream"}), 404, -32001)
    error_of(wire.delete(elsewhere, headers=headers), 404, -32001)
    assert legacy(wire, session_id, "ping").status_code == 200  # still alive where it was opened


def test_an_unknown_method_in_a_session_is_method_not_found(wire, tool):
    session_id = initialize(wire)
    for method in ("tools/destroy", "server/discover", "subscriptions/listen", ""):
        error = error_of(legacy(wire, session_id, method), 200, -32601)
        assert method in error["message"]
    assert legacy(wire, session_id, "tools/list").status_code == 200


def test_bad_params_in_a_session_are_invalid_params(wire, tool):
    session_id = initialize(wire)
    error_of(legacy(wire, session_id, "logging/setLevel", {"level": "loud"}), 200, -32602)
    error_of(legacy(wire, session_id, "tools/call", {"name": 5}), 200, -32602)
    error_of(legacy(wire, session_id, "tools/call", {"name": "echo", "arguments": [1]}), 200, -32602)
    error_of(legacy(wire, session_id, "tools/list", {"cursor": "!!not-a-cursor"}), 200, -32602)
    error_of(legacy(wire, session_id, "resources/read", {}), 200, -32602)


def test_notifications_and_responses_are_accepted_with_202(wire, tool):
    session_id = initialize(wire)
    headers = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "method": "notifications/whatever"},
        {"jsonrpc": "2.0", "id": 5, "result": {}},
        {"jsonrpc": "2.0", "id": 6, "error": {"code": -1, "message": "no"}},
    ):
        answer = wire.post("/mcp", headers=headers, json=message)
        assert (answer.status_code, answer.content) == (202, b""), message
    answer = wire.post(
        "/mcp", headers={"mcp-protocol-version": MODERN}, json={"jsonrpc": "2.0", "method": "notifications/x"}
    )
    assert answer.status_code == 202


def test_a_legacy_session_refuses_a_modern_version_header(wire, tool):
    session_id = initialize(wire)
    answer = wire.post(
        "/mcp",
        headers={"mcp-session-id": session_id, "mcp-protocol-version": "2099-01-01"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert answer.status_code == 400
    assert legacy(wire, session_id, "tools/list").status_code == 200


# --- stateless era (2026-07-28): the envelope ladder ----------------------------------------------


def test_discover_describes_the_gateway(wire):
    answer = wire.post("/mcp", **modern("server/discover"))
    assert answer.status_code == 200
    result = answer.json()["result"]
    assert result["supportedVersions"] == [MODERN]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "Forge"
    assert isinstance(result["ttlMs"], int) and result["cacheScope"] in ("public", "private")
    assert result["capabilities"]["tools"] == {"listChanged": True}


def test_every_2026_result_is_stamped(wire, tool):
    for method, params, name, cacheable in (
        ("tools/list", {}, None, True),
        ("prompts/list", {}, None, True),
        ("resources/list", {}, None, True),
        ("resources/templates/list", {}, None, True),
        ("tools/call", {"name": "echo", "arguments": {}}, "echo", False),
    ):
        result = wire.post("/mcp", **modern(method, params, name=name)).json()["result"]
        assert result["resultType"] == "complete", method
        assert "io.modelcontextprotocol/serverInfo" in result["_meta"], method
        assert ("ttlMs" in result and "cacheScope" in result) is cacheable, method


def test_a_request_without_its_envelope_is_invalid_params(wire, tool):
    request = modern("tools/list")
    for params in (
        {},
        {"_meta": "x"},
        {"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}},
        {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}},
    ):
        body = {**request["json"], "params": params}
        answer = wire.post("/mcp", headers=request["headers"], json=body)
        error_of(answer, 400, -32602)
        assert answer.json()["id"] == 1
    no_params = {key: value for key, value in request["json"].items() if key != "params"}
    error_of(wire.post("/mcp", headers=request["headers"], json=no_params), 400, -32602)
    serves_normally(wire)


def test_routing_headers_that_disagree_with_the_body_are_header_mismatch(wire, tool):
    for headers in (
        {"mcp_method": None},
        {"mcp_method": "prompts/list"},
        {"mcp_method": "TOOLS/CALL"},
        {"mcp_name": None},
        {"mcp_name": "wrong_tool_name"},
        {"mcp_protocol_version": None},
        {"mcp_protocol_version": "2026-07-29"},
    ):
        request = modern("tools/call", {"name": "echo", "arguments": {}}, name="echo", id="req-7", **headers)
        answer = wire.post("/mcp", **request)
        error = error_of(answer, 400, -32020)
        assert answer.json()["id"] == "req-7"
        assert "Header mismatch" in error["message"], headers
    serves_normally(wire)


def test_a_routing_header_sent_twice_is_header_mismatch(wire, tool):
    request = modern("tools/call", {"name": "echo", "arguments": {}}, name="echo")
    headers = [*request["headers"].items(), ("mcp-name", "echo")]
    error_of(wire.post("/mcp", headers=headers, json=request["json"]), 400, -32020)
    serves_normally(wire)


def test_routing_header_names_are_case_insensitive(wire, tool):
    request = modern("tools/call", {"name": "echo", "arguments": {}})
    headers = {"MCP-PROTOCOL-VERSION": MODERN, "mcp-METHOD": "tools/call", "Mcp-Name": "echo"}
    answer = wire.post("/mcp", headers=headers, json=request["json"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["isError"] is False


def test_a_base64_routing_name_is_decoded(wire, api, rest_upstream):
    api.post("/resources", json={"uri": "docs://café", "content": "au lait"}).raise_for_status()
    answer = wire.post(
        "/mcp", **modern("resources/read", {"uri": "docs://café"}, name="=?base64?ZG9jczovL2NhZsOp?=")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["contents"][0]["text"] == "au lait"
    broken = wire.post("/mcp", **modern("resources/read", {"uri": "docs://café"}, name="=?base64?%%%?="))
    error_of(broken, 400, -32020)


def test_an_unsupported_version_is_named_with_the_supported_ones(wire, tool):
    meta = {**META, "io.modelcontextprotocol/protocolVersion": "v999.0.0"}
    request = modern("tools/list", mcp_protocol_version="v999.0.0")
    request["json"]["params"]["_meta"] = meta
    answer = wire.post("/mcp", **request)
    error = error_of(answer, 400, -32022)
    assert error["data"] == {"supported": [MODERN], "requested": "v999.0.0"}
    assert answer.json()["id"] == 1
    # A header that disagrees with the body is a mismatch first, whatever the body's version.
    mismatched = modern("tools/list")
    mismatched["json"]["params"]["_meta"] = meta
    error_of(wire.post("/mcp", **mismatched), 400, -32020)
    serves_normally(wire)


def test_an_unknown_or_removed_method_is_404(wire, tool):
    for method in ("tools/destroy", "initialize", "ping", "logging/setLevel", "resources/subscribe"):
        answer = wire.post("/mcp", **modern(method))
        error = error_of(answer, 404, -32601)
        assert method in error["message"]
    serves_normally(wire)


def test_bad_params_in_2026_are_400(wire, tool):
    error_of(wire.post("/mcp", **modern("tools/call", {"name": "nope"}, name="nope")), 400, -32602)
    error_of(wire.post("/mcp", **modern("prompts/get", {"name": "nope"}, name="nope")), 400, -32602)
    error_of(
        wire.post("/mcp", **modern("resources/read", {"uri": "docs://nope"}, name="docs://nope")), 400, -32602
    )
    bad_level = modern("tools/list")
    bad_level["json"]["params"]["_meta"] = {**META, "io.modelcontextprotocol/logLevel": "loud"}
    error_of(wire.post("/mcp", **bad_level), 400, -32602)
    serves_normally(wire)


def test_an_sse_only_client_gets_its_answer_as_an_event(wire, tool):
    request = modern("tools/list")
    answer = wire.post(
        "/mcp", headers={**request["headers"], "accept": "text/event-stream"}, json=request["json"]
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert '"tools":[{"name":"echo"' in answer.text


def test_the_plain_rpc_endpoint_needs_no_session(wire, tool):
    answer = wire.post(
        "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    )
    assert answer.status_code == 200
    assert answer.json()["result"]["isError"] is False
    assert wire.post("/rpc", **modern("tools/list")).json()["result"]["resultType"] == "complete"


def test_a_cached_2026_answer_never_leaks_its_stamps_into_the_handshake_era(wire, api):
    api.post("/resources", json={"uri": "docs://shared", "content": "one text"}).raise_for_status()
    modern_read = wire.post(
        "/mcp", **modern("resources/read", {"uri": "docs://shared"}, name="docs://shared")
    )
    assert modern_read.json()["result"]["resultType"] == "complete"
    session_id = initialize(wire)
    result = legacy(wire, session_id, "resources/read", {"uri": "docs://shared"}).json()["result"]
    assert result == {"contents": [{"uri": "docs://shared", "text": "one text"}]}


def next_event(lines) -> tuple[str | None, dict]:
    """The id and message of the next SSE event carrying data (keep-alive comments skipped).
    `lines` is one `iter_lines()` iterator kept for the stream's life: dropping an unfinished
    iterator makes httpx close the connection."""
    event_id = None
    for line in lines:
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: ") and line[6:].strip():
            return event_id, orjson.loads(line[6:])
    raise AssertionError("the stream ended without an event")


def test_the_session_stream_delivers_and_replays_server_messages(wire, api, rest_upstream):
    session_id = initialize(wire)
    stream_headers = {"mcp-session-id": session_id, "accept": "text/event-stream"}
    api.post("/tools", json={"name": "one", "url": rest_upstream + "/1"}).raise_for_status()
    with wire.stream("GET", "/mcp", headers=stream_headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first_id, message = next_event(lines)  # sent before the stream opened, kept for it
        assert message == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        assert wire.get("/mcp", headers=stream_headers).status_code == 409  # one stream per session
        api.post("/prompts", json={"name": "p", "template": "x"}).raise_for_status()
        second_id, message = next_event(lines)
        assert message == {"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}
    api.post("/resources", json={"uri": "docs://r", "content": "x"}).raise_for_status()
    # Resuming after the first event replays what came later, the missed one included.
    with wire.stream("GET", "/mcp", headers={**stream_headers, "last-event-id": first_id}) as stream:
        lines = stream.iter_lines()
        assert next_event(lines) == (
            second_id,
            {"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"},
        )
        third_id, message = next_event(lines)
    assert message == {"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}
    assert int(first_id) < int(second_id) < int(third_id)
    answer = wire.get("/mcp", headers={"mcp-session-id": session_id, "accept": "application/json"})
    assert answer.status_code == 406
