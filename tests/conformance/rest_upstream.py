"""The conformance harness's REST upstream: the answers Forge's REST-wrapped fixture tools return.

Part of the conformance harness (`.ci/conformance` starts it; `fixtures.py` registers tools that
point at it). Until federation exists, the suite's fixture tools that are plain request/answer
can only reach Forge as REST tools: Forge turns the upstream's body into one text content item,
and an HTTP error status into an `isError` result.

The two trigger tools change Forge's catalog through its management API (a marker tool or prompt
comes and goes), so the suite sees Forge's own list_changed fan-out on subscriptions/listen.

    python tests/conformance/rest_upstream.py PORT FORGE_URL   # serves on 127.0.0.1:PORT until killed
"""

from __future__ import annotations

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError

# path -> (HTTP status, text body): the reference "everything" server's texts, word for word.
ANSWERS = {
    "/simple-text": (200, "This is a simple text response for testing."),
    "/error": (500, "This tool intentionally returns an error for testing"),
    "/logging-evaluated": (200, "Logging evaluated"),
    "/json-schema-2020-12": (200, "ok"),
}

# path -> (API collection, the marker entity each call adds, or removes when it is there).
TRIGGERS = {
    "/trigger/tools": ("tools", {
        "name": "conformance_list_marker",
        "description": "Comes and goes each time test_trigger_tool_change runs",
        "integration_type": "REST",
        "url": "http://127.0.0.1:9/unused",
        "method": "POST",
        "input_schema": {"type": "object", "properties": {}},
    }),
    "/trigger/prompts": ("prompts", {
        "name": "conformance_list_marker",
        "description": "Comes and goes each time test_trigger_prompt_change runs",
        "template": "A prompt the conformance harness adds and removes.",
    }),
}


def forge_api(method: str, url: str, payload: dict | None = None):
    data = json.dumps(payload).encode() if payload is not None else None
    headers = {"content-type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def toggle_marker(forge: str, kind: str, marker: dict) -> None:
    """Add the marker entity to Forge, or delete it when it is there: either way a list changes."""
    found = forge_api("GET", f"{forge}/{kind}?search={marker['name']}")["items"]
    found = [item for item in found if item["name"] == marker["name"]]
    if found:
        forge_api("DELETE", f"{forge}/{kind}/{found[0]['id']}")
    else:
        forge_api("POST", f"{forge}/{kind}", marker)


class Upstream(BaseHTTPRequestHandler):
    forge_url = ""

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)  # the tool's arguments: no fixture looks at them
        if self.path in TRIGGERS:
            try:
                toggle_marker(self.forge_url, *TRIGGERS[self.path])
                status, text = 200, "Mutation triggered"
            except (HTTPError, OSError) as failure:
                status, text = 502, f"could not change Forge's catalog: {failure}"
        else:
            status, text = ANSWERS.get(self.path, (404, f"no fixture at {self.path}"))
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # the harness's output stays the suite's
        pass


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: rest_upstream.py PORT FORGE_URL")
    Upstream.forge_url = argv[2].rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[1])), Upstream)
    print(f"conformance REST upstream on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
