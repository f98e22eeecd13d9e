"""Traces and the access log (the observability plugin): a tools/call is a SERVER span with the
upstream call as its CLIENT child, the client's `traceparent` is continued and handed to the REST
upstream, the access log line carries the same trace id, and spans leave the process only when an
OTLP endpoint is configured."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from forge.logs import JsonFormatter, RequestIdFilter
from forge_plugins.observability import (
    inject_trace_context,
    instrument_http_client,
    observer_of,
    upstream_span,
)

JSON = {"accept": "application/json", "content-type": "application/json"}
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def call(client: httpx.Client, tool: str, arguments: dict, *, meta: dict | None = None, **headers) -> dict:
    params = {"name": tool, "arguments": arguments}
    if meta is not None:  # the stateless revision on /mcp, where `_meta` travels with every request
        params["_meta"] = {**MODERN, **meta}
        headers.update({"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": tool})
        path = "/mcp"
    else:
        path = "/rpc"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    answer = client.post(path, json=body, headers={**JSON, **headers})
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


@pytest.fixture
def spans(forge):
    """The spans `forge` finishes, kept in memory."""
    exporter = InMemorySpanExporter()
    observer_of(forge.gateway).tracing.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(autouse=True)
def access_log_on(monkeypatch):
    monkeypatch.setenv("OBSERVABILITY_ACCESS_LOG", "true")


@pytest.fixture
def access_lines():
    """The `forge.access` log as `LOG_FORMAT=json` writes it, one parsed line per request."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("forge.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def echo_tool(api, rest_upstream) -> dict:
    answer = api.post(
        "/tools", json={"name": "echo", "url": rest_upstream + "/echo", "headers": {"X-Api-Key": "k-1"}}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_tool_call_is_a_request_span_with_the_upstream_call_as_its_child(
    api, echo_tool, spans, access_lines
):
    assert call(api, "echo", {"text": "hi"}, **{"x-request-id": "req-42"})["isError"] is False
    upstream, request = spans.get_finished_spans()
    assert (request.name, request.kind) == ("tools/call echo", SpanKind.SERVER)
    assert (upstream.name, upstream.kind) == ("POST", SpanKind.CLIENT)
    assert upstream.parent.span_id == request.context.span_id
    assert upstream.context.trace_id == request.context.trace_id
    assert request.parent is None  # the client sent no trace context: a new trace
    assert request.attributes["mcp.method.name"] == "tools/call"
    assert request.attributes["gen_ai.tool.name"] == "echo"
    assert upstream.attributes["http.response.status_code"] == 200
    assert upstream.attributes["url.template"] == echo_tool["url"]
    (line,) = access_lines()
    assert line["trace_id"] == f"{request.context.trace_id:032x}"
    assert line["span_id"] == f"{request.context.span_id:016x}"
    assert line["request_id"] == "req-42"
    assert line["logger"] == "forge.access"
    assert (line["method"], line["tool"], line["outcome"], line["principal"]) == (
        "tools/call",
        "echo",
        "ok",
        "anonymous",
    )
    assert line["transport"] == "streamable_http" and line["latency_ms"] > 0


@pytest.mark.parametrize("carrier", ["header", "_meta"])
def test_a_client_traceparent_is_continued_up_to_the_rest_upstream(api, echo_tool, spans, carrier):
    if carrier == "header":
        result = call(api, "echo", {}, traceparent=TRACEPARENT)
    else:
        result = call(api, "echo", {}, meta={"traceparent": TRACEPARENT})
    upstream_span_, request = spans.get_finished_spans()
    assert f"{request.context.trace_id:032x}" == CLIENT_TRACE
    assert f"{request.parent.span_id:016x}" == CLIENT_SPAN and request.parent.is_remote
    seen = json.loads(result["content"][0]["text"])["headers"]["traceparent"]
    assert (
        seen == f"00-{CLIENT_TRACE}-{upstream_span_.context.span_id:016x}-01"
    )  # the upstream's parent: our CLIENT span


def test_unrecorded_forge_passes_trace_context_through_and_still_logs_a_trace_id(
    api, echo_tool, access_lines
):
    """With no exporter (nothing records spans), a client's traceparent reaches the upstream as it
    was sent, and a call without one gets a fresh trace id shared by its log line and upstream."""
    continued = call(api, "echo", {}, traceparent=TRACEPARENT)
    assert json.loads(continued["content"][0]["text"])["headers"]["traceparent"] == TRACEPARENT
    fresh = call(api, "echo", {})
    sent = json.loads(fresh["content"][0]["text"])["headers"]["traceparent"]
    first, second = access_lines()
    assert first["trace_id"] == CLIENT_TRACE
    assert sent.split("-")[1] == second["trace_id"] != CLIENT_TRACE
    assert sent.endswith("-00")  # unsampled: Forge does not ask the upstream to record what it does not


def test_a_failing_upstream_fails_its_span(api, rest_upstream, spans, access_lines):
    api.post("/tools", json={"name": "broken", "url": rest_upstream + "/status/503"}).raise_for_status()
    assert call(api, "broken", {})["isError"] is True
    upstream, request = spans.get_finished_spans()
    assert upstream.status.status_code == StatusCode.ERROR
    assert upstream.attributes["http.response.status_code"] == 503
    assert request.status.status_code == StatusCode.ERROR
    assert access_lines()[0]["outcome"] == "tool_error"


def test_the_access_log_holds_no_arguments_and_no_credentials(api, echo_tool, access_lines):
    call(api, "echo", {"password": "hunter2"}, **{"x-api-key": "not-for-logs"})
    (line,) = access_lines()
    assert "arguments" not in line
    assert "hunter2" not in json.dumps(line) and "not-for-logs" not in json.dumps(line)


def test_the_access_log_is_off_unless_asked(start_forge, rest_upstream, access_lines, monkeypatch):
    monkeypatch.delenv("OBSERVABILITY_ACCESS_LOG")
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        call(api, "echo", {})
    assert access_lines() == []


def test_arguments_are_logged_when_a_setting_asks(start_forge, rest_upstream, access_lines, monkeypatch):
    monkeypatch.setenv("OBSERVABILITY_LOG_ARGUMENTS", "true")
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        call(api, "echo", {"city": "Lyon"})
    assert access_lines()[0]["arguments"] == {"city": "Lyon"}


def test_an_upstream_that_never_answers_fails_its_span(api, spans):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    api.post("/tools", json={"name": "gone", "url": f"http://127.0.0.1:{closed}/x"}).raise_for_status()
    assert call(api, "gone", {})["isError"] is True
    upstream, _ = spans.get_finished_spans()
    assert upstream.kind == SpanKind.CLIENT and upstream.status.status_code == StatusCode.ERROR
    assert (
        upstream.status.description == "no answer" and "http.response.status_code" not in upstream.attributes
    )


def test_code_calling_an_upstream_itself_gets_a_span_and_trace_headers(forge, spans, rest_upstream):
    async def federated_call():
        async with httpx.AsyncClient() as client:
            instrument_http_client(forge.gateway, client)
            with upstream_span(
                forge.gateway, "tools/call remote", **{"server.address": "peer.example"}
            ) as span:
                headers: dict = {}
                inject_trace_context(headers)
                echoed = (await client.post(rest_upstream + "/echo", json={})).json()["headers"]
                return span.get_span_context(), headers, echoed

    context, headers, echoed = forge.run(federated_call())
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert echoed["traceparent"] == headers["traceparent"]
    (finished,) = spans.get_finished_spans()
    assert (finished.name, finished.kind, finished.attributes["server.address"]) == (
        "tools/call remote",
        SpanKind.CLIENT,
        "peer.example",
    )


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    received: list

    def do_POST(self):
        self.received.append(
            (
                self.path,
                self.headers.get("content-type"),
                self.rfile.read(int(self.headers["content-length"])),
            )
        )
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def collector(port: int = 0) -> tuple[ThreadingHTTPServer, list]:
    received: list = []
    server = ThreadingHTTPServer(("127.0.0.1", port), type("Handler", (Collector,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(start_forge, rest_upstream, monkeypatch):
    server, received = collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        forge = start_forge()
        with httpx.Client(base_url=forge.url) as api:
            api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
            call(api, "echo", {})
        forge.stop()  # flushes the batch
    finally:
        server.shutdown()
    assert received, "no spans reached the collector"
    assert {(path, kind) for path, kind, _ in received} == {("/v1/traces", "application/x-protobuf")}
    assert b"tools/call echo" in b"".join(body for _, _, body in received)


def test_nothing_is_sent_without_an_endpoint(start_forge, rest_upstream, monkeypatch):
    """Not even to OTLP's default address, localhost:4318, where an SDK would send by default."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    try:
        server, received = collector(4318)
    except OSError:
        pytest.skip("port 4318 is taken on this machine")
    try:
        forge = start_forge()
        with httpx.Client(base_url=forge.url) as api:
            api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
            call(api, "echo", {})
        forge.stop()
    finally:
        server.shutdown()
    assert received == []


def test_without_the_plugin_nothing_is_traced_or_logged(start_forge, rest_upstream, access_lines):
    forge = start_forge(plugins_disabled=["observability"])
    assert observer_of(forge.gateway) is None
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        result = call(api, "echo", {}, traceparent=TRACEPARENT)
    assert "traceparent" not in json.loads(result["content"][0]["text"])["headers"]
    assert access_lines() == []
