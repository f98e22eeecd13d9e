"""The benchmark's upstreams, REST and MCP: one raw-ASGI echo app run by uvicorn.

Run by `bench/run.py` as `python bench/echo.py PORT`. POST /mcp is the MCP upstream, one tool
`echo` answered as JSON over Streamable HTTP (`bench/mcp_echo.py`); every other request is the
REST tool's upstream, answered 200 with `{"echo": <the request's JSON body, or null>}`, so Forge's
REST adapter and a direct client see the same small answer, and so does a call of the MCP tool.
No framework, no logging: the point is to cost as little as possible.
"""

from __future__ import annotations

import importlib.util
import sys

import mcp_echo

HEADERS = [(b"content-type", b"application/json")]
MCP_PATH = "/mcp"


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == MCP_PATH:
        status, headers, body = mcp_echo.answer(scope["method"], b"".join(chunks))
    else:
        status, headers, body = 200, HEADERS, b'{"echo":' + (b"".join(chunks) or b"null") + b"}"
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def http_implementation() -> str:
    """What uvicorn's `http="auto"` picks: httptools when installed, else h11 (slower)."""
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def main() -> None:
    try:
        import uvicorn
    except ImportError:
        sys.exit("bench/echo.py: uvicorn is not installed (pip install uvicorn httptools)")
    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", http="auto")


if __name__ == "__main__":
    main()
