"""The client side of each upstream transport, contributed through `forge_upstream_connectors`.

Layer: plugin connectors, above the sessions (`http_session`, `stream_session`) and the official
SDK's client transports (`mcp.client.streamable_http`, `mcp.client.sse`, `mcp.client.stdio`),
below `upstream` (which holds one connection per gateway and reconnects it).

Each connector is `connect(gateway_record)`, answering an async context manager that yields an
open `forge.contracts.UpstreamSession` and closes it on exit:

- streamable_http: the 2026-07-28 revision with aiohttp (`HttpSession`); an upstream whose
  server/discover fails is spoken to in the handshake era through the SDK's transport.
- sse: the 2024-11-05 HTTP+SSE transport (SDK `sse_client`).
- stdio: `url` is a command line (`python server.py stdio`), split like a shell would; the SDK
  starts it in a process group of its own and ends the whole group when the connection closes.
  The gateway's `headers` become the child's environment variables.
There is no WebSocket client in the SDK; `forge_plugins.transport_ws` contributes "websocket".
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpcore2
import httpx2
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from forge.outbound import OutboundPolicy
from forge_plugins.federation.http_session import MAX_ANSWER_BYTES, HttpSession, NotModern
from forge_plugins.federation.stream_session import StreamSession


class Connectors:
    """The connectors of one gateway, sharing its identity, timeout and answer cap."""

    def __init__(
        self,
        info: Mapping[str, Any],
        timeout: float,
        policy: OutboundPolicy | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        self.info = dict(info)
        self.timeout = timeout
        self.policy = policy or OutboundPolicy()  # what HTTP upstreams may be (OUTBOUND_ALLOW)
        # UPSTREAM_MAX_RESPONSE_BYTES, for HttpSession's answers; the SDK's transports read theirs.
        self.max_answer_bytes = max_answer_bytes

    def registry(self) -> dict:
        return {"streamable_http": self.streamable_http, "sse": self.sse, "stdio": self.stdio}

    @contextlib.asynccontextmanager
    async def streamable_http(self, record: Mapping[str, Any]) -> AsyncIterator[Any]:
        await self.policy.check_url(record["url"])  # a refusal told plainly; clients check again
        session = HttpSession(
            record["url"],
            record.get("headers") or {},
            info=self.info,
            timeout=self.timeout,
            policy=self.policy,
            max_answer_bytes=self.max_answer_bytes,
        )
        try:
            await session.open()
            modern = True
        except NotModern:
            modern = False
        except BaseException:
            await session.close()
            raise
        if not modern:
            await session.close()
            async with self._handshake_http(record) as legacy:
                yield legacy
            return
        try:
            yield session
        finally:
            await session.close()

    @contextlib.asynccontextmanager
    async def _handshake_http(self, record: Mapping[str, Any]) -> AsyncIterator[StreamSession]:
        client = self._httpx2_client(headers=dict(record.get("headers") or {}))
        async with (
            client,
            streamable_http_client(record["url"], http_client=client) as (read, write),
            StreamSession(read, write, info=self.info, timeout=self.timeout, try_modern=False) as session,
        ):
            yield session

    @contextlib.asynccontextmanager
    async def sse(self, record: Mapping[str, Any]) -> AsyncIterator[StreamSession]:
        headers = dict(record.get("headers") or {})
        await self.policy.check_url(record["url"])
        async with (
            sse_client(
                record["url"],
                headers=headers,
                timeout=self.timeout,
                sse_read_timeout=24 * 3600,
                httpx_client_factory=self._httpx2_client,
            ) as (read, write),
            StreamSession(read, write, info=self.info, timeout=self.timeout) as session,
        ):
            yield session

    def _httpx2_client(self, headers=None, timeout=None, auth=None) -> httpx2.AsyncClient:
        """An httpx2 client for the SDK's transports, connecting only where the policy allows
        (the SDK's `McpHttpClientFactory`)."""
        transport = self.policy.guard_httpx(httpx2.AsyncHTTPTransport(), httpcore2.ConnectError)
        timeout = timeout or httpx2.Timeout(self.timeout, read=None)
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=transport)

    @contextlib.asynccontextmanager
    async def stdio(self, record: Mapping[str, Any]) -> AsyncIterator[StreamSession]:
        argv = shlex.split(record["url"])
        if not argv:
            raise ValueError("a stdio gateway's url is the command line to start it")
        server = StdioServerParameters(
            command=argv[0], args=argv[1:], env=dict(record.get("headers") or {}) or None
        )
        async with (
            stdio_client(server, errlog=sys.stderr) as (read, write),
            StreamSession(read, write, info=self.info, timeout=self.timeout) as session,
        ):
            yield session
