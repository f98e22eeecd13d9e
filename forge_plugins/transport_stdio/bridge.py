"""The stdio bridge: a local MCP client speaks stdio, a remote Forge speaks Streamable HTTP.

Layer: transport, client side; above it the `forge-stdio` command (`cli`), below it httpx and the
event-stream reader (`events`). It knows the wire, not MCP's methods, except the few that build a
session's state.

Each line the client writes is one JSON-RPC message, POSTed to the Forge URL; the answer (JSON, or
an event stream of notifications ending with the response) is written back line by line as it
arrives. Requests travel concurrently, so a slow tool call holds up neither the next request nor
its cancellation; `initialize`, notifications and responses go in order, each answered before the
next line is read (a script piping a file of messages needs the session before the rest). After the client's
`notifications/initialized` the bridge opens the session's GET stream and relays what Forge sends
unasked (list changes, resource updates), resuming with Last-Event-ID when the stream drops.

Failures the client never sees: Forge unreachable is retried for `retry_seconds`; Forge having
forgotten the session (404, after a restart) is repaired by replaying the client's initialize,
initialized, log level and subscriptions on a new session, then resending the message. At the end
of input the bridge waits for the answers in flight, then deletes the session.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Mapping

import httpx
import orjson

from forge_plugins.transport_stdio.events import events

log = logging.getLogger("forge.stdio")

ACCEPT = "application/json, text/event-stream"
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
FIRST_DELAY, MAX_DELAY = 0.25, 5.0  # seconds between reconnection attempts, doubling


def is_request(message: dict) -> bool:
    return "method" in message and "id" in message


def error_answer(request_id, code: int, text: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}


class Replay:
    """The client's messages that built its session's state, to rebuild it on a new session."""

    def __init__(self):
        self.initialize: dict | None = None
        self.initialized = False
        self.log_level: dict | None = None
        self.subscriptions: dict[str, dict] = {}

    def record(self, message: dict) -> None:
        method = message.get("method")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "initialize":
            self.__init__()
            self.initialize = message
        elif method == "notifications/initialized":
            self.initialized = True
        elif method == "logging/setLevel":
            self.log_level = message
        elif method == "resources/subscribe":
            self.subscriptions[str(params.get("uri"))] = message
        elif method == "resources/unsubscribe":
            self.subscriptions.pop(str(params.get("uri")), None)

    def state(self) -> list[dict]:
        return [message for message in (self.log_level, *self.subscriptions.values()) if message is not None]


class Bridge:
    """One client's session on one Forge endpoint. `write` puts one message on the client's stdout."""

    def __init__(
        self,
        url: str,
        write: Callable[[dict], None],
        *,
        headers: Mapping[str, str] | None = None,
        retry_seconds: float = 30.0,
    ):
        self.url = url
        self.write = write
        self.retry_seconds = retry_seconds
        self.client = httpx.AsyncClient(headers=dict(headers or {}), timeout=httpx.Timeout(30.0, read=None))
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.last_event_id: str | None = None
        self.replay = Replay()
        self.ready = asyncio.Event()  # cleared while a forgotten session is being replaced
        self.ready.set()
        self._renewing = asyncio.Lock()
        self._requests: set[asyncio.Task] = set()
        self._stream: asyncio.Task | None = None
        self._internal_ids = itertools.count(1)

    # --- from the client --------------------------------------------------------------------------

    async def serve(self, lines: AsyncIterator[bytes]) -> None:
        """Bridge until the client's input ends (then let answers in flight arrive) or this task is
        cancelled (then drop them); either way the session is deleted."""
        try:
            async for line in lines:
                await self.receive(line)
            await asyncio.gather(*self._requests, return_exceptions=True)
        finally:
            await self.close()

    async def receive(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            self.write(error_answer(None, PARSE_ERROR, f"Parse error: {error}"))
            return
        if not isinstance(message, dict):
            self.write(error_answer(None, INVALID_REQUEST, "Invalid Request: one JSON-RPC object per line"))
            return
        self.replay.record(message)
        if is_request(message) and message.get("method") != "initialize":  # nothing overtakes initialize
            task = asyncio.create_task(self.forward(message, line))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
            return
        await self.forward(message, line)
        if message.get("method") == "notifications/initialized" and self._stream is None and self.session_id:
            self._stream = asyncio.create_task(self._relay_stream())

    async def forward(self, message: dict, body: bytes | None = None) -> None:
        """POST one client message and write out what comes back; failures become JSON-RPC errors."""
        await self.ready.wait()
        try:
            await self._exchange(message, body, self.write)
        except httpx.HTTPError as error:
            log.warning("no answer from Forge to %s: %r", message.get("method", "a response"), error)
            if is_request(message):
                text = f"Forge at {self.url} is unreachable or dropped the connection: {error!r}"
                self.write(error_answer(message["id"], INTERNAL_ERROR, text))

    # --- to Forge ---------------------------------------------------------------------------------

    def _headers(self, session_id: str | None, accept: str = ACCEPT) -> dict[str, str]:
        headers = {"accept": accept, "content-type": "application/json"}
        if session_id:
            headers["mcp-session-id"] = session_id
        if self.protocol_version:
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    async def _send(self, method: str, headers: dict, content: bytes | None = None) -> httpx.Response:
        """A streamed response; retried while Forge cannot be reached, for at most `retry_seconds`."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.retry_seconds, FIRST_DELAY
        while True:
            request = self.client.build_request(method, self.url, headers=headers, content=content)
            try:
                return await self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                if loop.time() + delay > deadline:
                    raise
                log.warning("cannot reach Forge (%r); retrying in %.2g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    async def _exchange(self, message: dict, body: bytes | None, deliver, *, renew: bool = True) -> None:
        """POST `message` and hand each message of the answer to `deliver`."""
        session_id = self.session_id
        response = await self._send("POST", self._headers(session_id), body or orjson.dumps(message))
        forgotten = False
        try:
            forgotten = response.status_code == 404 and session_id is not None and renew
            if not forgotten:
                await self._relay(message, response, deliver)
        finally:
            await response.aclose()
        if forgotten:
            await self._renew(session_id)
            await self._exchange(message, body, deliver, renew=False)

    async def _relay(self, message: dict, response: httpx.Response, deliver) -> None:
        kind = response.headers.get("content-type", "")
        if response.status_code >= 400:
            self._refused(message, response.status_code, await response.aread(), deliver)
        elif kind.startswith("text/event-stream"):
            async for event in events(response.aiter_bytes()):
                if event.data:
                    self._answered(message, response, event.data, deliver)
        elif kind.startswith("application/json") and (body := await response.aread()):
            self._answered(message, response, body, deliver)
        elif is_request(message):
            text = f"Forge answered HTTP {response.status_code} without a JSON-RPC answer"
            deliver(error_answer(message["id"], INTERNAL_ERROR, text))

    def _answered(self, message: dict, response: httpx.Response, data: bytes | str, deliver) -> None:
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("Forge sent something that is not JSON: %.200r", data)
            return
        succeeded = isinstance(answer, dict) and "result" in answer and answer.get("id") == message.get("id")
        if succeeded and message.get("method") == "initialize":
            # A second initialize on an open session is answered without a new id: keep the one we have.
            self.session_id = response.headers.get("mcp-session-id") or self.session_id
            self.protocol_version = answer["result"].get("protocolVersion")
            self.last_event_id = None
        deliver(answer)

    def _refused(self, message: dict, status: int, body: bytes, deliver) -> None:
        """An HTTP error: its JSON-RPC error, answered to the request (Forge could not know its id)."""
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            error = {
                "code": INTERNAL_ERROR,
                "message": f"Forge answered HTTP {status}: {body[:200].decode(errors='replace')}",
            }
        if is_request(message):
            deliver({"jsonrpc": "2.0", "id": message["id"], "error": error})
        else:
            log.warning(
                "Forge refused %s: HTTP %d, %s",
                message.get("method", "a response"),
                status,
                error.get("message"),
            )

    # --- a forgotten session ----------------------------------------------------------------------

    async def _renew(self, stale: str) -> None:
        """Forge no longer knows session `stale`: open a new one as the client opened the first."""
        async with self._renewing:
            if self.session_id != stale or self.replay.initialize is None:
                return  # another task has renewed it already
            log.warning("Forge no longer knows session %s; opening a new one", stale)
            self.session_id = None
            self.ready.clear()
            try:
                await self._replay(self.replay.initialize)
                if self.replay.initialized:
                    await self._replay({"jsonrpc": "2.0", "method": "notifications/initialized"})
                for message in self.replay.state():
                    await self._replay(message)
            except httpx.HTTPError as error:
                log.warning("could not open a new session: %r", error)
                self.session_id = self.session_id or stale  # the next message tries again
            finally:
                self.ready.set()

    async def _replay(self, message: dict) -> None:
        """Send a message again under an id of the bridge's own; its answer stays here."""
        if "id" in message:
            message = {**message, "id": f"forge-stdio-{next(self._internal_ids)}"}
        answers: list[dict] = []

        def deliver(answer: dict) -> None:
            if "id" in message and answer.get("id") == message["id"]:
                answers.append(answer)
            else:
                self.write(answer)

        await self._exchange(message, None, deliver, renew=False)
        for answer in answers:
            if "error" in answer:
                log.warning("replaying %s failed: %s", message["method"], answer["error"].get("message"))

    # --- the session's own stream -----------------------------------------------------------------

    async def _relay_stream(self) -> None:
        """Relay server-initiated messages; reconnect, resuming, whenever the stream drops."""
        delay = FIRST_DELAY
        while True:
            await self.ready.wait()
            session_id = self.session_id
            if session_id is None:
                return
            headers = self._headers(session_id, accept="text/event-stream")
            if self.last_event_id is not None:
                headers["last-event-id"] = self.last_event_id
            try:
                response = await self._send("GET", headers)
                try:
                    status = response.status_code
                    if status == 200:
                        delay = FIRST_DELAY
                        async for event in events(response.aiter_bytes()):
                            self.last_event_id = event.id if event.id is not None else self.last_event_id
                            if event.data:
                                self._answered({}, response, event.data, self.write)
                    elif status == 405:
                        log.info("Forge offers no stream of its own for this session")
                        return
                    elif status != 404:
                        log.warning("Forge refused the session's stream: HTTP %d", status)
                finally:
                    await response.aclose()
                if status == 404:
                    await self._renew(session_id)
                    continue
            except httpx.HTTPError as error:
                log.warning("lost the stream from Forge (%r); reconnecting", error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    # --- the end ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Drop what is in flight, delete the session, close the connections."""
        tasks = [*self._requests, *([self._stream] if self._stream else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.session_id:
            try:
                await self.client.delete(self.url, headers=self._headers(self.session_id), timeout=5)
            except httpx.HTTPError as error:
                log.info("could not delete the session: %r", error)
        await self.client.aclose()
