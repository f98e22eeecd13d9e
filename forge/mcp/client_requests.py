"""Requests Forge sends to a client in the handshake era: sampling, elicitation, roots.

Layer: protocol. An adapter relaying an upstream's `sampling/createMessage` (say) calls the
`ask` of its `Invocation`; the request travels on the stream of the client's own request (or the
session's stream), and the client's answer — a JSON-RPC response it sends back like any message —
resolves the waiting future. The 2026-07-28 revision has no such requests (`input_required`
results replace them), so there `ask` is None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from forge.mcp.jsonrpc import INVALID_REQUEST, McpError

# Which declared client capability each request needs.
CAPABILITY_FOR = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
# A person may be answering an elicitation: wait long, but not forever.
ANSWER_SECONDS = 600.0


def asker(context) -> Callable[[str, dict], Awaitable[dict]] | None:
    """The `ask` of an invocation served on `context`, or None where the client cannot be asked."""
    session = context.session
    if context.modern or session is None or not session.id:
        return None

    async def ask(method: str, params: dict) -> dict:
        needed = CAPABILITY_FOR.get(method)
        if needed is not None and needed not in (session.client_capabilities or {}):
            raise McpError(INVALID_REQUEST, f"the client did not declare the {needed} capability")
        session.asked += 1
        request_id = f"forge-{session.asked}"
        answer = asyncio.get_running_loop().create_future()
        session.pending[request_id] = answer
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            if context.connection.emit is not None:
                await context.connection.emit(message)
            else:
                session.push(message)
            return await asyncio.wait_for(answer, ANSWER_SECONDS)
        except TimeoutError:
            raise McpError(INVALID_REQUEST, f"the client did not answer {method} in time") from None
        finally:
            session.pending.pop(request_id, None)

    return ask


def take_answer(session, message: dict) -> None:
    """Resolve the request a client's response answers; unknown ids are ignored."""
    if session is None:
        return
    waiting = session.pending.get(message.get("id"))
    if waiting is None or waiting.done():
        return
    if "error" in message and isinstance(message["error"], dict):
        error = message["error"]
        waiting.set_exception(McpError(error.get("code", INVALID_REQUEST), str(error.get("message", "")), error.get("data")))
    else:
        waiting.set_result(message.get("result") if isinstance(message.get("result"), dict) else {})



