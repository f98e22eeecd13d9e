"""One long-lived client connection's traffic: what the client sends in, everything owed to it out.

Layer: protocol, between the engine and the transports that hold a connection open for a session's
whole life (the legacy HTTP+SSE stream, a WebSocket). Such a transport opens a session when the
client connects, hands each inbound message to `Channel.receive`, writes out whatever
`Channel.next_message` yields, and calls `Channel.close` when the client goes away. Nothing here
knows how the bytes travel.

Requests run in tasks of their own, so a slow `tools/call` blocks neither the next message nor the
`notifications/cancelled` aimed at it. Their answers and request-scoped notifications (progress,
log messages) queue here in the order they were produced, interleaved with the session's
server-initiated messages (`Session.push`: list changes, resource updates).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from forge.contracts import Principal
from forge.mcp import jsonrpc
from forge.mcp.context import Connection
from forge.mcp.jsonrpc import INVALID_REQUEST, McpError
from forge.mcp.session import Session
from forge.mcp.subscriptions import Subscription

log = logging.getLogger("forge.mcp")


class Channel:
    """A session bound to one connection, from its opening to its close."""

    def __init__(self, engine, principal: Principal, server_id: str | None, transport: str):
        self.engine = engine
        self.session: Session = engine.sessions.open(principal, server_id)
        self.connection = Connection(
            principal=principal,
            server_id=server_id,
            session=self.session,
            emit=self.emit,
            transport=transport,
        )
        self._owed: deque[dict] = deque()
        self._wake = asyncio.Event()
        self._cursor = self.session.delivered_event_id
        self._tasks: set[asyncio.Task] = set()
        self.session.listeners.add(self._wake)

    @property
    def closed(self) -> bool:
        return self.session.closed

    def deliver(self, message: dict) -> None:
        """Queue a message for the client, after those already owed to it."""
        self._owed.append(message)
        self._wake.set()

    async def emit(self, message: dict) -> None:
        """The `Connection.emit` of this channel's requests: notifications join the queue."""
        self.deliver(message)

    async def receive(self, message: Any) -> None:
        """Hand one decoded client message to the engine; its answer, if any, is delivered later."""
        if isinstance(message, dict) and jsonrpc.is_request(message) and not self.closed:
            task = asyncio.create_task(self._answer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:  # notifications, responses and broken envelopes are quick: answer in order
            await self._answer(message)

    async def _answer(self, message: Any) -> None:
        answer = await self.engine.handle(message, self.connection)
        if isinstance(answer, Subscription):  # subscriptions/listen belongs to stateless HTTP
            answer.close()
            failure = McpError(INVALID_REQUEST, "subscriptions/listen is served over Streamable HTTP only")
            answer = jsonrpc.error(message.get("id"), failure)
        if answer is not None:
            self.deliver(answer)

    async def next_message(self) -> dict | None:
        """The next message owed to the client, waiting for one; None once the channel is closed."""
        while not self.closed:
            if self._owed:
                return self._owed.popleft()
            pending = self.session.messages_after(self._cursor)
            if pending:
                self._cursor, message = pending[0]
                self.session.delivered_event_id = max(self.session.delivered_event_id, self._cursor)
                return message
            self._wake.clear()
            await self._wake.wait()
        return None

    async def close(self) -> None:
        """End the session: cancel its requests in flight and remove it from the registry."""
        self.engine.sessions.close(self.session.id)  # wakes `next_message`, which then answers None
        self.session.listeners.discard(self._wake)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning("a request ended badly while its connection closed: %r", outcome)
