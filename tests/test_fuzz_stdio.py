"""The stdio bridge's line reader under generated input: whatever a desktop client writes on a
line (arbitrary bytes, broken JSON, batches, deep nesting, huge numbers, messages with one thing
wrong), the bridge answers with a JSON-RPC error of the right code or relays Forge's answer, and
ends when its input ends. Forge is the real ASGI app, reached in process (httpx's ASGI transport)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forge_plugins.transport_stdio.bridge import Bridge
from tests.fuzzing import FUZZ, ErrorLogs, LoopGateway, bodies, check_message, decode_error


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    gateway = LoopGateway(tmp_path_factory.mktemp("fuzz-stdio"))
    yield gateway
    gateway.close()


def is_request(line: bytes) -> bool:
    return decode_error(line.strip()) is None and {"method", "id"} <= set(orjson.loads(line))


LINES = bodies().map(lambda raw: raw.replace(b"\n", b" ").replace(b"\r", b" "))


@FUZZ
@given(lines=st.lists(LINES, min_size=1, max_size=4))
def test_every_line_is_answered_cleanly(fuzzed, lines):
    written: list[dict] = []
    bridge = Bridge("http://forge.test/mcp", written.append, retry_seconds=0)
    bridge.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fuzzed.app), timeout=10)

    async def feed():
        for line in lines:
            yield line + b"\n"

    with ErrorLogs() as errors:
        fuzzed.run(bridge.serve(feed()))
    errors.check()
    for message in written:
        check_message(message)
    framing = [decode_error(line.strip()) for line in lines if line.strip()]
    for code in (-32700, -32600):
        found = [m for m in written if "error" in m and m["id"] is None and m["error"]["code"] == code]
        assert len(found) >= framing.count(code), (lines, written)
    answers = [m for m in written if "method" not in m]
    assert len(answers) >= sum(map(is_request, lines)), (lines, written)
