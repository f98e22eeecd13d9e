"""What the fuzz tests (tests/test_fuzz_*.py) share: a started gateway on an event loop of its own,
hypothesis strategies for JSON-RPC traffic, and the checks every answer must pass.

The gateway has no HTTP server: the engine is called directly, and the transports' ASGI handlers
are called with hand-made ASGI events. Its tools are in-memory (integration type MEMORY), so no
example ever reaches the network.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from forge.app import create_app
from forge.hookspecs import hookimpl
from forge.mcp.jsonrpc import INTERNAL_ERROR
from forge.settings import Settings

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
STEP_TIMEOUT = 20.0  # seconds one example may take before it counts as a hang
# FORGE_FUZZ_EXAMPLES raises the count for a deeper run than the test suite's.
EXAMPLES = int(os.environ.get("FORGE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
KNOWN_CODES = {-32700, -32600, -32601, -32602, -32001, -32002, -32020, -32021, -32022, -32800}

METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
    "completion/complete", "logging/setLevel", "server/discover", "notifications/initialized",
    "notifications/cancelled",
]  # fmt: skip


class EchoAdapter:
    """Tools of integration type MEMORY: they answer their arguments as text."""

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation=None) -> dict:
        return {"content": [{"type": "text", "text": repr(dict(arguments))[:200]}], "isError": False}


class MemoryTools:
    @hookimpl
    def forge_tool_adapters(self, gateway):
        return {"MEMORY": EchoAdapter()}


class LoopGateway:
    """An app and its started gateway on a private event loop; `run` drives a coroutine there."""

    def __init__(self, folder, **overrides):
        values = {
            "database_url": f"sqlite:///{folder / 'forge.db'}",
            "auth_required": False,
            "plugins_disabled": ["federation", "admin_ui"],
            "_env_file": None,
            **overrides,
        }
        self.app = create_app(Settings(**values), plugins=[MemoryTools()])
        self.gateway = self.app.gateway
        self.loop = asyncio.new_event_loop()
        self.run(self._start())

    async def _start(self):
        await self.gateway.start()
        store = self.gateway.store
        await store.create("tools", {"name": "echo", "integration_type": "MEMORY", "input_schema": {
            "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}})
        await store.create("prompts", {"name": "greet", "template": "Hello, {{ user }}!", "argument_schema": {
            "type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]}})
        await store.create("resources", {"uri": "docs://readme", "name": "readme", "text": "hi"})
        await store.create("resources", {"uri": "docs://items/{id}", "name": "items", "is_template": True})
        await self.gateway.reload_catalog(announce=False)

    def run(self, coroutine, timeout: float = STEP_TIMEOUT):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    def close(self):
        self.run(self.gateway.stop())
        self.loop.close()


# --- strategies ---------------------------------------------------------------------------------

HUGE = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), HUGE, st.text(max_size=40))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
IDS = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20), JSON_VALUES)


@st.composite
def params(draw):
    """Params that sometimes get far: right field names, the 2026-07-28 `_meta`, wrong types."""
    value = draw(st.dictionaries(
        st.sampled_from(["name", "uri", "arguments", "level", "protocolVersion", "capabilities", "clientInfo",
                         "requestId", "ref", "argument", "cursor", "_meta", "x"]),
        JSON_VALUES, max_size=5))  # fmt: skip
    if draw(st.booleans()):
        value["name"] = draw(st.sampled_from(["echo", "greet", "missing", ""]))
        value["uri"] = draw(st.sampled_from(["docs://readme", "docs://items/7", "nope://x", ""]))
    if draw(st.booleans()):
        extra = draw(st.dictionaries(st.sampled_from([*META, "x"]), JSON_VALUES, max_size=2))
        value["_meta"] = {**META, **extra}
    return value


@st.composite
def messages(draw):
    """Anything JSON can hold, but mostly near-valid JSON-RPC messages with one thing wrong."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    message = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", None]))}
    if draw(st.integers(0, 4)):
        message["id"] = draw(IDS)
    if draw(st.integers(0, 6)):
        message["method"] = draw(st.one_of(st.sampled_from(METHODS), st.text(max_size=20), JSON_SCALARS))
    if draw(st.integers(0, 4)):
        message["params"] = draw(st.one_of(params(), params(), JSON_VALUES))
    if draw(st.integers(0, 8)) == 0:
        message[draw(st.sampled_from(["result", "error"]))] = draw(JSON_VALUES)
    return message


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


# --- checks -------------------------------------------------------------------------------------


def check_answer(answer: Any) -> None:
    """A JSON-RPC response that is not an internal error and that encodes back to JSON."""
    assert isinstance(answer, dict), answer
    assert answer.get("jsonrpc") == "2.0", answer
    assert ("result" in answer) != ("error" in answer), answer
    if "error" in answer:
        code = answer["error"]["code"]
        assert code != INTERNAL_ERROR, answer
        assert code in KNOWN_CODES, answer
        assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
    orjson.dumps(answer)


class ErrorLogs(logging.Handler):
    """Collects ERROR records of the `forge` loggers: an unhandled exception is logged there."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        logging.getLogger("forge").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("forge").removeHandler(self)

    def check(self):
        assert not self.records, [r.getMessage() + (r.exc_text or "") for r in self.records]


# --- ASGI by hand -------------------------------------------------------------------------------


class Exchange:
    """One HTTP request handed to an ASGI app: the body goes in, then the client stays until the
    answer is complete (or `linger` seconds, for streams) and leaves."""

    def __init__(self, app, method: str, path: str, headers, body=b"", query=b"", linger: float = 2.0):
        self.app, self.linger = app, linger
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
            "headers": list(headers), "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 4444),
        }  # fmt: skip
        self.body = body
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}
        self.chunks: list[bytes] = []
        self.complete = asyncio.Event()
        self._sent_body = False

    async def receive(self):
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        try:
            await asyncio.wait_for(self.complete.wait(), self.linger)
        except TimeoutError:
            pass
        return {"type": "http.disconnect"}

    async def send(self, message):
        assert not self.complete.is_set(), f"sent after the answer was complete: {message}"
        if message["type"] == "http.response.start":
            assert self.status is None, "two response starts"
            self.status = message["status"]
            self.headers = dict(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            assert self.status is not None, "a body before the response start"
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                self.complete.set()

    async def run(self) -> Exchange:
        await self.app(self.scope, self.receive, self.send)
        return self

    @property
    def content(self) -> bytes:
        return b"".join(self.chunks)

    def messages(self) -> list:
        """The JSON-RPC messages of the answer: its JSON body, or its event stream's data lines."""
        if self.headers.get(b"content-type", b"").startswith(b"text/event-stream"):
            events = [event.split(b"\n") for event in self.content.split(b"\n\n")]
            return [
                orjson.loads(lines[-1].removeprefix(b"data: "))
                for lines in events
                if b"event: message" in lines and lines[-1].startswith(b"data: ")
            ]
        return [orjson.loads(self.content)] if self.content else []


def check_http_error(exchange: Exchange, code: int | None = None) -> dict:
    """A 4xx answer whose body is a JSON-RPC error (with `code`, when given)."""
    assert exchange.status is not None and 400 <= exchange.status < 500, (exchange.status, exchange.content)
    (body,) = exchange.messages()
    assert body["jsonrpc"] == "2.0" and isinstance(body["error"]["code"], int), body
    assert body["error"]["code"] != INTERNAL_ERROR, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


HEADER_NAMES = st.sampled_from([
    b"content-type", b"accept", b"origin", b"mcp-session-id", b"mcp-protocol-version", b"mcp-method",
    b"mcp-name", b"last-event-id", b"authorization", b"content-length", b"x-anything",
])  # fmt: skip
HEADER_VALUES = st.one_of(
    st.sampled_from([
        b"application/json", b"text/event-stream", b"application/json, text/event-stream", b"*/*", b"",
        b"text/plain", b"http://evil.example", b"http://localhost:3000", MODERN.encode(), b"2025-11-25",
        b"tools/call", b"echo", b"=?base64?ZWNobw==?=", b"=?base64?!!?=", b"Bearer x", b"999999999999",
    ]),
    st.binary(max_size=30).map(lambda raw: bytes(b for b in raw if b not in b"\r\n")),
)  # fmt: skip
HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5)


@st.composite
def bodies(draw):
    """Request bodies: arbitrary bytes, broken JSON, batches, deep nesting, huge numbers, messages."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.sampled_from([
            b"", b"{", b"[", b"null", b"[]", b"{}", b"1e999999", b"123456789012345678901234567890",
            b'{"jsonrpc": "2.0", "id": 1e400, "method": "ping"}', b"\xff\xfe{}", b'"\\ud800"',
            b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
        ]))  # fmt: skip
    if kind == 2:
        return orjson.dumps(draw(st.lists(messages(), max_size=3)))
    try:
        return orjson.dumps(draw(messages()))
    except orjson.JSONEncodeError:
        return b"{}"


def check_message(message) -> None:
    """What a server may send a client: a clean response, or a notification or request of its own."""
    if isinstance(message, dict) and "method" in message:
        assert message.get("jsonrpc") == "2.0" and isinstance(message["method"], str), message
        return
    check_answer(message)


def decode_error(body: bytes) -> int | None:
    """The error the framing itself calls for: -32700 unless the body is JSON, -32600 unless it
    is one JSON object; None when the message goes on to the engine."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return -32700
    return None if isinstance(value, dict) else -32600
