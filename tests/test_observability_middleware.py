"""The `forge_mcp_middleware` hook: a plugin wraps every MCP message the engine handles, whatever
the transport, sees its answer, may answer in its place, and what it puts in context variables
reaches the tool adapter in both protocol eras."""

from __future__ import annotations

import contextvars

import httpx
import pytest

from forge.hookspecs import hookimpl

JSON = {"accept": "application/json", "content-type": "application/json"}
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
# Only the middlewares of each test: the observability and audit plugins stay out of the chain.
ALONE = {"plugins_disabled": ["observability", "audit"]}


def request(method: str, params: dict | None = None, id=1) -> dict:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}}


class Outer:
    def __init__(self, seen: list):
        self.seen = seen

    @hookimpl(tryfirst=True)
    def forge_mcp_middleware(self, gateway):
        async def middleware(message, connection, call_next):
            self.seen.append(("outer in", message.get("method"), "id" in message, connection.transport))
            answer = await call_next(message, connection)
            self.seen.append(("outer out", answer and sorted(answer)))
            return answer

        return middleware


class Inner:
    def __init__(self, seen: list):
        self.seen = seen

    @hookimpl
    def forge_mcp_middleware(self, gateway):
        async def middleware(message, connection, call_next):
            self.seen.append(("inner in", message.get("method")))
            answer = await call_next(message, connection)
            self.seen.append(("inner out", answer and sorted(answer)))
            return answer

        return middleware


def test_middlewares_wrap_every_message_the_first_outermost(start_forge):
    seen: list = []
    forge = start_forge(plugins=[Inner(seen), Outer(seen)], **ALONE)
    with httpx.Client(base_url=forge.url, headers=JSON) as client:
        assert client.post("/rpc", json=request("ping")).json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        assert (
            client.post("/rpc", json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code
            == 202
        )
        assert client.post("/rpc", json=request("no/such/method")).json()["error"]["code"] == -32601
    assert seen == [
        ("outer in", "ping", True, "streamable_http"),
        ("inner in", "ping"),
        ("inner out", ["id", "jsonrpc", "result"]),
        ("outer out", ["id", "jsonrpc", "result"]),
        ("outer in", "notifications/initialized", False, "streamable_http"),
        ("inner in", "notifications/initialized"),
        ("inner out", None),
        ("outer out", None),
        ("outer in", "no/such/method", True, "streamable_http"),
        ("inner in", "no/such/method"),
        ("inner out", ["error", "id", "jsonrpc"]),
        ("outer out", ["error", "id", "jsonrpc"]),
    ]


class Gatekeeper:
    """Refuses prompts/list itself, without calling the method."""

    @hookimpl
    def forge_mcp_middleware(self, gateway):
        async def middleware(message, connection, call_next):
            if message.get("method") == "prompts/list":
                return {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "error": {"code": -32600, "message": "not today"},
                }
            return await call_next(message, connection)

        return middleware


def test_a_middleware_may_answer_in_place_of_the_method(start_forge):
    forge = start_forge(plugins=[Gatekeeper()], **ALONE)
    with httpx.Client(base_url=forge.url, headers=JSON) as client:
        refused = client.post("/rpc", json=request("prompts/list")).json()
        assert refused["error"] == {"code": -32600, "message": "not today"}
        assert client.post("/rpc", json=request("tools/list")).json()["result"] == {"tools": []}


class Broken:
    @hookimpl
    def forge_mcp_middleware(self, gateway):
        async def middleware(message, connection, call_next):
            if message.get("method") == "ping":
                raise RuntimeError("a bug in a plugin")
            return await call_next(message, connection)

        return middleware


def test_a_failing_middleware_is_an_internal_error_and_the_gateway_goes_on(start_forge, caplog):
    forge = start_forge(plugins=[Broken()], **ALONE)
    with httpx.Client(base_url=forge.url, headers=JSON) as client:
        failed = client.post("/rpc", json=request("ping", id=7)).json()
        assert failed == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "Internal error"}}
        assert client.post("/rpc", json=request("tools/list")).json()["result"] == {"tools": []}
    assert "an MCP middleware failed" in caplog.text


REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("test_request_tag", default="-")


class Tagger:
    """Tags each request with its X-Request-ID header in a context variable; the tool-call hook
    reads it back where the adapter runs."""

    def __init__(self):
        self.at_the_adapter: list[str] = []

    @hookimpl
    def forge_mcp_middleware(self, gateway):
        async def middleware(message, connection, call_next):
            token = REQUEST_TAG.set((connection.headers or {}).get("x-request-id", "none"))
            try:
                return await call_next(message, connection)
            finally:
                REQUEST_TAG.reset(token)

        return middleware

    @hookimpl
    def forge_before_tool_call(self, gateway, call):
        self.at_the_adapter.append(REQUEST_TAG.get())


@pytest.mark.parametrize("era", ["stateless", "session"])
def test_what_a_middleware_sets_in_context_reaches_the_tool_call(start_forge, rest_upstream, era):
    tagger = Tagger()
    forge = start_forge(plugins=[tagger], **ALONE)
    with httpx.Client(base_url=forge.url, headers=JSON) as client:
        client.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        call = request("tools/call", {"name": "echo", "arguments": {}})
        if era == "stateless":
            call["params"]["_meta"] = MODERN_META
            headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"}
        else:
            opened = client.post(
                "/mcp",
                json=request(
                    "initialize",
                    {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"},
                    },
                ),
            )
            headers = {
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            }
            client.post(
                "/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
            )
        answer = client.post("/mcp", headers={**headers, "x-request-id": f"req-{era}"}, json=call).json()
        assert answer["result"]["isError"] is False, answer
    assert tagger.at_the_adapter == [f"req-{era}"]
