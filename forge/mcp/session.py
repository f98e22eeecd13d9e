"""MCP sessions of the handshake era, and the registry that finds them by id.

Layer: protocol. A session is made by `initialize` and holds what the handshake agreed (protocol
version, client info and capabilities), the log level, resource subscriptions, the requests in
flight (for `notifications/cancelled`) and a bounded log of server-initiated messages that a
transport's stream delivers and replays on resumption (`Last-Event-ID`).
The 2026-07-28 revision is stateless and has no sessions.

With a shared store (`forge.cluster`, when several processes serve one gateway), a Streamable HTTP
session's state — who opened it, where, the handshake's answers, log level, subscriptions — is
saved when it changes, and a process that receives a request for a session it does not hold
adopts it from the store: no sticky sessions. What stays with each process: requests in flight
and the replay log of its own stream.
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
# A shared session in use here has its expiry in the store pushed back at most this often.
TOUCH_SECONDS = 60.0
# What a process adopting a session from the shared store takes from it.
SHARED_FIELDS = ("protocol_version", "client_info", "client_capabilities", "initialized", "log_level")


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
    close_reason: str | None = None  # why the gateway closed it, when not the client's doing
    # Who holds its Streamable HTTP GET stream open (maybe with a newer token than `principal`'s).
    stream_principal: Principal | None = None
    # Requests Forge sent the client (sampling, elicitation, roots), by id, awaiting its answer.
    pending: dict[str, asyncio.Future] = field(default_factory=dict)
    asked: int = 0
    shared: bool = False  # kept in the shared store, so other processes can continue it
    # Each request may carry it on with a newer credential of the same principal (a Streamable
    # HTTP session, whose client refreshes its token); a WebSocket's or SSE stream's stays bound
    # to the credential that opened it.
    renewable: bool = False
    touched_at: float = field(default_factory=time.monotonic)  # its expiry last pushed back there

    def shared_state(self) -> dict:
        """What another process needs to continue this session (JSON-ready)."""
        state = {name: getattr(self, name) for name in SHARED_FIELDS}
        return {**state, "principal": self.principal.name, "server_id": self.server_id, "subscriptions": sorted(self.subscriptions)}

    def adopt(self, state: dict) -> None:
        """Take the state another process saved (see `shared_state`)."""
        for name in SHARED_FIELDS:
            setattr(self, name, state.get(name, getattr(self, name)))
        self.subscriptions = set(state.get("subscriptions") or ())

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

    def close(self, reason: str | None = None) -> None:
        self.closed = True
        self.close_reason = self.close_reason or reason
        for task in list(self.in_flight.values()):
            task.cancel()
        for event in self.listeners:
            event.set()


class SessionRegistry:
    """Open sessions by id. Ids are 128-bit random and bound to the principal that opened them."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, store=None):
        self._sessions: dict[str, Session] = {}
        self.idle_seconds = idle_seconds
        self._swept_at = time.monotonic()
        # The shared store (`forge.cluster.Cluster`'s session methods); None: this process alone.
        self.store = store

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self):
        return iter(list(self._sessions.values()))

    def open(self, principal: Principal, server_id: str | None, *, shared: bool = False) -> Session:
        """A new session; `shared` ones (Streamable HTTP's) are saved for other processes once
        `initialize` is answered, and may be continued there."""
        if time.monotonic() - self._swept_at > SWEEP_SECONDS:
            self._swept_at = time.monotonic()
            self.expire_idle(self.idle_seconds)
        session = Session(id=secrets.token_hex(16), principal=principal, server_id=server_id, renewable=shared)
        session.shared = shared and self.store is not None
        self._sessions[session.id] = session
        return session

    async def find(self, session_id: str, principal: Principal) -> Session | None:
        """`get`, or the session as another process saved it (adopted here from then on)."""
        session = self.get(session_id, principal)
        if session is not None or self.store is None:
            if session is not None and session.shared and session.last_used - session.touched_at > TOUCH_SECONDS:
                session.touched_at = session.last_used
                await self.store.touch_session(session_id, self.idle_seconds)
            return session
        if session_id in self._sessions:
            return None  # held here, by another principal
        state = await self.store.load_session(session_id)
        if state is None or state.get("principal") != principal.name:
            return None
        session = Session(id=session_id, principal=principal, server_id=state.get("server_id"), shared=True, renewable=True)
        session.adopt(state)
        self._sessions.setdefault(session_id, session)
        return self._sessions[session_id]

    async def save(self, session: Session) -> None:
        """Save a shared session's state after a change (initialize, log level, subscriptions)."""
        if session.shared and self.store is not None:
            session.touched_at = time.monotonic()
            await self.store.save_session(session.id, session.shared_state(), self.idle_seconds)

    async def end(self, session_id: str, reason: str | None = None) -> None:
        """Close a session here and, when shared, everywhere (DELETE; a credential revoked)."""
        session = self._sessions.get(session_id)
        self.close(session_id, reason)
        if session is not None and session.shared:
            await self.store.delete_session(session_id)

    def changed_elsewhere(self, session_id: str, state: dict | None) -> None:
        """Another process changed (or, with None, ended) a shared session this one may hold."""
        session = self._sessions.get(session_id)
        if session is None or not session.shared:
            return
        if state is None:
            self.close(session_id)
        else:
            session.adopt(state)

    def get(self, session_id: str, principal: Principal) -> Session | None:
        """The session with this id if `principal` opened it; another principal sees none."""
        session = self._sessions.get(session_id)
        if session is None or session.principal.name != principal.name:
            return None
        session.last_used = time.monotonic()
        return session

    def close(self, session_id: str, reason: str | None = None) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close(reason)

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
