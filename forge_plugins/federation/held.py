"""Upstream calls held open across a 2026-07-28 client's input rounds.

Layer: plugin, used by the forwarding adapter. An upstream spoken to in the handshake era (every
stdio, SSE and WebSocket connection, and a handshake-only HTTP server) asks for the client's input
mid-call, as a server-to-client request (`elicitation/create`, `sampling/createMessage`,
`roots/list`) that waits for its answer. A 2026-07-28 client cannot be sent a request: it is
answered an `input_required` result instead, and retries the call with `inputResponses` and the
`requestState`. So the upstream call runs on in a task of its own while the client is away; the
`requestState` Forge answers names it (an unguessable token, kept in this process's memory, bound
to the caller and the entity called), and the retry hands the client's answer to the waiting
upstream request and waits for what comes next: the result, or the next request for input.

A held call lasts as long as the upstream call may (the gateway's timeout); a retry that comes
later, from another caller, or to another Forge process is told plainly that the call is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.mcp.client_requests import CAPABILITY_FOR
from forge.mcp.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, McpError

STATE_PREFIX = "forge-held."
INPUT_KEY = "upstream"  # one request for input at a time, so one key


@dataclass
class _Ask:
    method: str
    params: dict
    answer: asyncio.Future


@dataclass
class HeldCall:
    """One upstream call in its own task, and the requests for input it has made."""

    caller: str
    entity: str
    capabilities: Mapping[str, Any]
    asks: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    waiting: _Ask | None = None  # the request the client was asked and has yet to answer
    notify: Callable[[dict], Awaitable[None]] | None = None  # the current round's client

    async def ask(self, method: str, params: dict) -> dict:
        """The upstream's request, as the stream session hands it over: answered by the client's retry."""
        needed = CAPABILITY_FOR.get(method)
        if needed is not None and needed not in (self.capabilities or {}):
            raise McpError(INVALID_REQUEST, f"the client did not declare the {needed} capability")
        answer = asyncio.get_running_loop().create_future()
        await self.asks.put(_Ask(method, dict(params), answer))
        return await answer

    async def relay(self, message: dict) -> None:
        """A notification from the upstream, for whichever round of the client is being served."""
        if self.notify is not None:
            await self.notify(message)


class HeldCalls:
    """The held calls of one federation, by the `requestState` their client was given."""

    def __init__(self):
        self._calls: dict[str, HeldCall] = {}

    def is_ours(self, request_state: str | None) -> bool:
        return isinstance(request_state, str) and request_state.startswith(STATE_PREFIX)

    async def run(
        self,
        call: Callable[[HeldCall], Awaitable[dict]],
        invocation,
        entity: Mapping[str, Any],
    ) -> dict:
        """Start `call(held)` (an upstream call relaying through `held`) and answer its first step."""
        held = HeldCall(
            caller=invocation.principal.name,
            entity=_entity_key(entity),
            capabilities=dict(invocation.client_capabilities or {}),
            notify=invocation.notify,
        )
        held.task = asyncio.create_task(call(held))
        return await self._step(held)

    async def resume(self, invocation, entity: Mapping[str, Any]) -> dict:
        """Answer a held call's waiting request with the client's retry, and answer its next step."""
        state = invocation.request_state
        held = self._calls.pop(state, None)
        if held is None or held.task is None or held.task.done():
            raise McpError(
                INVALID_PARAMS,
                "this requestState names no call in progress here (it ended, timed out, or was held by "
                "another Forge process): call again without inputResponses and requestState",
            )
        if held.caller != invocation.principal.name or held.entity != _entity_key(entity):
            self._calls[state] = held  # not this caller's to answer
            raise McpError(INVALID_PARAMS, "this requestState belongs to another call")
        responses = invocation.input_responses or {}
        if held.waiting is None or INPUT_KEY not in responses:
            self._calls[state] = held
            raise McpError(INVALID_PARAMS, f"inputResponses must answer {INPUT_KEY!r}")
        held.notify = invocation.notify
        answer = responses[INPUT_KEY]
        if not held.waiting.answer.done():
            held.waiting.answer.set_result(dict(answer) if isinstance(answer, Mapping) else {})
        held.waiting = None
        return await self._step(held)

    async def _step(self, held: HeldCall) -> dict:
        """Wait for the call's result, or its next request for input (then hold it and say so)."""
        asked = asyncio.ensure_future(held.asks.get())
        try:
            await asyncio.wait({held.task, asked}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the client left: so does the upstream call
            held.task.cancel()
            raise
        finally:
            if not asked.done():
                asked.cancel()
        if asked.done() and not asked.cancelled():
            held.waiting = asked.result()
            held.notify = None  # this round's client stream ends with its answer; the retry brings one
            state = STATE_PREFIX + secrets.token_urlsafe(24)
            self._calls[state] = held
            held.task.add_done_callback(lambda task: self._ended(state, held))
            return {
                "resultType": "input_required",
                "inputRequests": {INPUT_KEY: {"method": held.waiting.method, "params": held.waiting.params}},
                "requestState": state,
            }
        return held.task.result()

    def _ended(self, state: str, held: HeldCall) -> None:
        """A held call ended with its client away (timed out, or the upstream went): forget it, and
        tell the upstream its question goes unanswered."""
        self._calls.pop(state, None)
        if held.waiting is not None and not held.waiting.answer.done():
            held.waiting.answer.set_exception(McpError(INVALID_REQUEST, "the client did not answer in time"))
        if not held.task.cancelled():
            held.task.exception()  # nobody is waiting for it any more

    async def aclose(self) -> None:
        calls, self._calls = list(self._calls.values()), {}
        for held in calls:
            if held.task is not None:
                held.task.cancel()
        for held in calls:
            if held.task is not None:
                with contextlib.suppress(BaseException):
                    await held.task


def _entity_key(entity: Mapping[str, Any]) -> str:
    return str(entity.get("id") or entity.get("name"))
