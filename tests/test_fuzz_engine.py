"""The MCP engine under generated messages, with no transport in between: whatever it is handed
(any JSON value, wrong types, huge numbers, deep nesting, unknown methods), it answers a request
with a JSON-RPC result or an error with the right code, never an internal error, and never hangs."""

from __future__ import annotations

import pytest
from hypothesis import given

from forge.contracts import ANONYMOUS
from forge.mcp import jsonrpc
from forge.mcp.context import Connection
from forge.mcp.methods import HANDSHAKE_METHODS
from forge.mcp.subscriptions import Subscription
from tests.fuzzing import FUZZ, META, ErrorLogs, LoopGateway, check_answer, deep, messages


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    gateway = LoopGateway(tmp_path_factory.mktemp("fuzz-engine"))
    yield gateway
    gateway.close()


def handshake_connection(fuzzed: LoopGateway) -> Connection:
    session = fuzzed.gateway.engine.sessions.open(ANONYMOUS, None)
    session.protocol_version, session.initialized = "2025-11-25", True
    return Connection(principal=ANONYMOUS, session=session, emit=_ignore, transport="fuzz")


async def _ignore(message) -> None:
    pass


def answer(fuzzed: LoopGateway, message, connection: Connection):
    async def handle():
        found = await fuzzed.gateway.engine.handle(message, connection)
        if isinstance(found, Subscription):
            found.close()
            return None
        return found

    return fuzzed.run(handle())


def expected_code(message, handshake: bool) -> int | None:
    """The error code the specification names for this message, when it names one."""
    try:
        jsonrpc.check_envelope(message)
    except jsonrpc.McpError:
        return jsonrpc.INVALID_REQUEST
    if handshake and jsonrpc.is_request(message) and message["method"] not in HANDSHAKE_METHODS:
        return jsonrpc.METHOD_NOT_FOUND
    return None


@FUZZ
@given(message=messages())
def test_every_message_gets_a_clean_answer_in_both_eras(fuzzed, message):
    with ErrorLogs() as errors:
        for handshake in (False, True):
            stateless = Connection(principal=ANONYMOUS, transport="fuzz")
            connection = handshake_connection(fuzzed) if handshake else stateless
            found = answer(fuzzed, message, connection)
            code = expected_code(message, handshake)
            if found is None:  # only a notification or a response goes unanswered
                assert code is None and not jsonrpc.is_request(message), message
                continue
            check_answer(found)
            if code is not None:
                assert found["error"]["code"] == code, (message, found)
                assert found["id"] == jsonrpc.readable_id(message)
            if handshake:
                fuzzed.run(fuzzed.gateway.engine.sessions.end(connection.session.id))
    errors.check()


@pytest.mark.parametrize("where", ["params", "arguments", "meta"])
def test_deeply_nested_params_get_a_clean_answer(fuzzed, where):
    nested = deep(3000)
    params = {"name": "echo", "arguments": {"text": "x"}, "_meta": dict(META)}
    if where == "params":
        params["x"] = nested
    elif where == "arguments":
        params["arguments"] = {"text": nested}
    else:
        params["_meta"]["x"] = nested
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    with ErrorLogs() as errors:
        for connection in (Connection(principal=ANONYMOUS, transport="fuzz"), handshake_connection(fuzzed)):
            found = answer(fuzzed, message, connection)
            assert "error" in found or found["result"].get("isError") is not None
            if "error" in found:
                assert found["error"]["code"] in (jsonrpc.INVALID_REQUEST, jsonrpc.INVALID_PARAMS), found
    errors.check()
