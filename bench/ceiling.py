"""The practical ceiling of a Python MCP relay: the least a gateway can do for one REST tools/call.

Run by `bench/run.py` as `python bench/ceiling.py PORT UPSTREAM_URL [SERVER]`: raw ASGI, orjson,
one pooled keep-alive aiohttp session, served by uvicorn (httptools), granian or Hypercorn (on
uvloop, as `forge serve` runs it: what Forge's default server allows at best). It answers a
JSON-RPC `tools/call` on any path by POSTing the arguments to the upstream and wrapping the answer
as a CallToolResult; no sessions, no auth, no catalog, no validation. What Forge does beyond
this is what Forge costs.
"""

from __future__ import annotations

import sys

import aiohttp
import orjson

UPSTREAM = sys.argv[2] if len(sys.argv) > 2 else ""
HEADERS = [(b"content-type", b"application/json")]
client: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global client
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] == "GET":  # readiness probe
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = orjson.loads(body)
    if client is None:
        client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    async with client.post(UPSTREAM, data=orjson.dumps(request["params"].get("arguments") or {}),
                           headers={"content-type": "application/json"}) as response:
        text = await response.text()
    result = {"content": [{"type": "text", "text": text}], "isError": response.status >= 400}
    answer = orjson.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result})
    await send({"type": "http.response.start", "status": 200,
                "headers": [*HEADERS, (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


def main() -> None:
    port, server = int(sys.argv[1]), (sys.argv[3] if len(sys.argv) > 3 else "uvicorn")
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian("ceiling:app", address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False).serve()
        return
    if server == "hypercorn":
        import uvloop
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        uvloop.run(serve(app, config))
        return
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="auto")


if __name__ == "__main__":
    main()
