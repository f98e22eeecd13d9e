"""The benchmark's REST upstream: a raw-ASGI echo server run by uvicorn.

Run by `bench/run.py` as `python bench/echo.py PORT`. Every request is answered 200 with
`{"echo": <the request's JSON body, or null>}`, so Forge's REST adapter and a direct client see
the same small answer. No framework, no logging: the point is to cost as little as possible.
"""

from __future__ import annotations

import sys

HEADERS = [(b"content-type", b"application/json")]


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
    body = b'{"echo":' + (b"".join(chunks) or b"null") + b"}"
    await send({"type": "http.response.start", "status": 200, "headers": [*HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def http_implementation() -> str:
    """What uvicorn's `http="auto"` picks: httptools when installed, else h11 (slower)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def main() -> None:
    try:
        import uvicorn
    except ImportError:
        sys.exit("bench/echo.py: uvicorn is not installed (pip install uvicorn httptools)")
    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", http="auto")


if __name__ == "__main__":
    main()
