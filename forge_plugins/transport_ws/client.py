"""MCP over WebSocket, as a client: the "websocket" connector of federated gateways.

Layer: plugin connector, contributed through `forge_upstream_connectors`; above the `websockets`
library, below the federation plugin's `Upstream` (which holds the connection and reopens it).
The socket carries one JSON-RPC message per text frame, like the server side
(`forge_plugins.transport_ws.server`); the federation plugin's `StreamSession` multiplexes
requests over it, exactly as over stdio or HTTP+SSE.

- The handshake offers the subprotocol `mcp`; a server that picks none is still spoken to (as
  ours does for a client that offers none), one that picks another is refused by the library.
- The gateway's `headers` are sent with the handshake (an Authorization header, typically).
- Pings every PING_INTERVAL seconds; a pong missing for FEDERATION_TIMEOUT seconds ends the
  connection, and the federation plugin reconnects with backoff.
- A frame over MAX_BODY_BYTES (the limit the server side applies) closes the socket with 1009.
- Leaving the context manager closes the socket with the closing handshake (1000).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.shared.message import SessionMessage
from mcp.types import jsonrpc_message_adapter
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from forge.outbound import OutboundPolicy

log = logging.getLogger("forge.transport_ws")
SUBPROTOCOL = Subprotocol("mcp")
PING_INTERVAL = 20.0


class MessageSocket:
    """A WebSocket seen as the (read, write) message streams of the SDK's client transports:
    iterate it for `SessionMessage`s (or the `Exception` a bad frame raised), `send` one."""

    def __init__(self, socket: ClientConnection):
        self.socket = socket

    async def __aiter__(self) -> AsyncIterator[SessionMessage | Exception]:
        async for frame in self.socket:  # ends at a clean close; an abnormal one raises
            if isinstance(frame, bytes):
                yield ValueError("the upstream sent a binary frame; MCP messages are text")
                continue
            try:
                yield SessionMessage(jsonrpc_message_adapter.validate_json(frame, by_name=False))
            except ValidationError as error:
                yield error

    async def send(self, message: SessionMessage) -> None:
        try:
            await self.socket.send(message.message.model_dump_json(by_alias=True, exclude_unset=True))
        except ConnectionClosed as closed:
            raise anyio.ClosedResourceError(str(closed)) from None


def websocket_url(url: str) -> str:
    """ws:// and wss:// as given; http:// and https:// (as a gateway form may hold) mapped to them."""
    for plain, socket in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            return socket + url[len(plain) :]
    return url


class WebSocketConnector:
    """`connect(gateway_record)` for transport "websocket"."""

    def __init__(
        self, info: Mapping[str, Any], timeout: float, max_size: int, policy: OutboundPolicy | None = None
    ):
        self.info = dict(info)
        self.timeout = timeout
        self.max_size = max_size
        self.policy = policy or OutboundPolicy()  # what upstreams may be (OUTBOUND_ALLOW)

    @contextlib.asynccontextmanager
    async def __call__(self, record: Mapping[str, Any]) -> AsyncIterator[Any]:
        from forge_plugins.federation.stream_session import StreamSession

        url = websocket_url(record["url"])
        parts = urlsplit(url)
        # Connect to the address the outbound guard checked (TLS still verifies the URL's name);
        # with an explicit host the library follows no cross-origin redirect, and no proxy is used.
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        addresses = await self.policy.resolve(parts.hostname or "", port)
        socket = await connect(
            url,
            host=addresses[0],
            proxy=None,
            subprotocols=[SUBPROTOCOL],
            additional_headers=dict(record.get("headers") or {}),
            open_timeout=self.timeout,
            ping_interval=PING_INTERVAL,
            ping_timeout=self.timeout,
            close_timeout=self.timeout,
            max_size=self.max_size,
        )
        # Not `async with connect(...)`: that closes with 1011 whenever the block raises, and the
        # usual end of this connection is its task being cancelled (gateway deleted, Forge stopping).
        try:
            if socket.subprotocol is None:
                log.debug("upstream %s chose no subprotocol; speaking MCP anyway", record["url"])
            channel = MessageSocket(socket)
            async with StreamSession(channel, channel, info=self.info, timeout=self.timeout) as session:
                yield session
        finally:
            await socket.close()
