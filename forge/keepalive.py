"""An answer sent before its request body arrived says `Connection: close`.

Layer: kernel, between the front door (`forge.asgi.ForgeAsgi`) and Quart. Quart may answer a
request (401, 413, 415, ...) without reading its body. The server cannot reuse that connection:
the rest of the body is still on the wire, so it closes the connection after the answer. A
keep-alive client that was not told sends its next request into a closed socket and reads
"server disconnected". Saying so in the answer lets any HTTP client open a new connection
instead. The MCP transports add the header themselves on their own path; requests without a
body pay nothing here.
"""

from __future__ import annotations

CLOSE = (b"connection", b"close")


def has_body(scope) -> bool:
    """Whether the request announces a body (a non-zero Content-Length, or chunked)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def close_when_body_unread(app):
    """Wrap an ASGI app: its HTTP answers say `Connection: close` when they start before the
    request body was received to its end."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or not has_body(scope):
            await app(scope, receive, send)
            return
        received_all = False

        async def tracking_receive():
            nonlocal received_all
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                received_all = True
            return message

        async def honest_send(message):
            if message["type"] == "http.response.start" and not received_all:
                message = {**message, "headers": [*message.get("headers", ()), CLOSE]}
            await send(message)

        await app(scope, tracking_receive, honest_send)

    return wrapped
