"""Loopback HTTP servers that stand in for the upstreams tests need: REST APIs, MCP servers
answering plain JSON, redirectors.

Subclass `StubHandler` (a quiet `BaseHTTPRequestHandler` with `read_body` and `send_json`), then
run it with `StubServer(Handler)`: a free port on 127.0.0.1, a daemon thread, `url`, `close()`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubHandler(BaseHTTPRequestHandler):
    def read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, payload: Any, status: int = 200) -> None:
        self.send_body(status, json.dumps(payload).encode())

    def log_message(self, *args):  # tests read their own assertions, not an access log
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # read by listen(): tests send bursts of concurrent calls


class StubServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
