"""MCP sessions of the handshake era, and the registry that finds them by id.

Layer: protocol. A session is made by `initialize` and holds what the handshake agreed (protocol
version, client info and capabilities), the log level, resource subscriptions, the requests in
flight (for `notifications/cancelled`) and a bounded log of server-initiated messages that a
transport's stream delivers and replays on resumption (`Last-Event-ID`).
The 2026-07-28 revision is stateless and has no sessions.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from forge.contracts import Principal

REPLAY_LIMIT = 256  # server-initiated messages kept for resumption, per session
# A session nobody has used for this long, with no request in flight and no stream open, is ended
# (its id then answers 404, and the client initializes anew): clients that vanish without a DELETE
# must not hold memory forever. Idle sessions are looked for when a session opens, at most once a
# SWEEP_SECONDS, so no timer task is needed.
IDLE_SECONDS = 1800.0
SWEEP_SECONDS = 60.0


@dataclass
class Session:
    id: str
    principal: Principal
    server_id: str | None
    protocol_version: str = ""
    client_info: dict = field(default_factory=dict)
    client_capabilities: dict = field(default_factory=dict)
    initialized: bool = False
    log_level: str | None = None
    subscriptions: set[str] = field(default_factory=set)
    in_flight: dict[Any, asyncio.Task] = field(default_factory=dict)
    created_at: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    # Server-initiated messages: (event id, message), newest last; listeners wake on each new one.
    outbox: deque = field(default_factory=lambda: deque(maxlen=REPLAY_LIMIT))
    next_event_id: int = 0
    delivered_event_id: int = 0  # the newest message a stream has written out
    listeners: set[asyncio.Event] = field(default_factory=set)
    closed: bool = False
    # Requests Forge sent the client (sampling, elicitation, roots), by id, awaiting its answer.
    pending: dict[str, asyncio.Future] = field(default_factory=dict)
    asked: int = 0

    def push(self, message: dict) -> None:
        """Queue a server-initiated message for whatever stream the transport has open."""
        self.next_event_id += 1
        self.outbox.append((self.next_event_id, message))
        for event in self.listeners:
            event.set()

    def messages_after(self, event_id: int) -> list[tuple[int, dict]]:
        return [(number, message) for number, message in self.outbox if number > event_id]

    def cancel(self, request_id: Any) -> bool:
        task = self.in_flight.get(request_id)
        if task is None:
            return False
        task.cancel()
        return True

    def close(self) -> None:
        self.closed = True
        for task in list(self.in_flight.values()):
            task.cancel()
        for event in self.listeners:
            event.set()


class SessionRegistry:
    """Open sessions by id. Ids are 128-bit random and bound to the principal that opened them."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS):
        self._sessions: dict[str, Session] = {}
        self.idle_seconds = idle_seconds
        self._swept_at = time.monotonic()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self):
        return iter(list(self._sessions.values()))

    def open(self, principal: Principal, server_id: str | None) -> Session:
        if time.monotonic() - self._swept_at > SWEEP_SECONDS:
            self._swept_at = time.monotonic()
            self.expire_idle(self.idle_seconds)
        session = Session(id=secrets.token_hex(16), principal=principal, server_id=server_id)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, principal: Principal) -> Session | None:
        """The session with this id if `principal` opened it; another principal sees none."""
        session = self._sessions.get(session_id)
        if session is None or session.principal.name != principal.name:
            return None
        session.last_used = time.monotonic()
        return session

    def close(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.close(session_id)

    def expire_idle(self, idle_seconds: float) -> int:
        cutoff = time.monotonic() - idle_seconds
        stale = [
            sid for sid, s in self._sessions.items() if s.last_used < cutoff and not s.in_flight and not s.listeners
        ]
        for session_id in stale:
            self.close(session_id)
        return len(stale)
