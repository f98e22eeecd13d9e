"""The adapter of integration type "MCP": what federation imported is served by its upstream.

Layer: plugin adapter (`forge_tool_adapters`), called by the kernel's services for tools/call and,
for imported entities, prompts/get, resources/read and completion/complete; below it `upstream`.

Fidelity first: each request goes upstream under the entity's upstream name with the client's
own `_meta` (progressToken, trace context), capabilities and log level, and the result comes back
as the upstream wrote it (content blocks, structuredContent, isError, _meta); a JSON-RPC error
keeps its code, message and data. Only the era is translated:

- a 2026-07-28 client gets an upstream's `input_required` result as it is, and its retry's
  `inputResponses` and `requestState` go upstream untouched, with the same arguments; a
  handshake-era upstream's request for input mid-call (stdio, SSE, WebSocket) reaches it as an
  `input_required` result too, the upstream call held open until its retry (`held`);
- a handshake-era client cannot answer `input_required`, so Forge asks it each input request
  itself (`Invocation.ask`: sampling/createMessage, elicitation/create, roots/list on the call's
  own stream) and retries upstream with the answers and the upstream's requestState, round after
  round, until the upstream completes; its result loses the 2026-only members.
Upstream failures (unreachable, too slow, circuit open) are `isError` results for tools and
internal errors (-32603) for the rest. A resources/read answer the upstream marks cacheable
(`ttlMs`, `cacheScope`) is kept and answered again from the gateway's cache (`read_cache`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.shared.inbound import mcp_param_headers

from forge.mcp.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, RESOURCE_NOT_FOUND, McpError
from forge.mcp.param_headers import declared_param_headers
from forge.services.tools import error_result
from forge_plugins.federation.held import HeldCalls
from forge_plugins.federation.read_cache import ReadCache
from forge_plugins.federation.upstream import UpstreamFailure
from forge_plugins.federation.wire import RESERVED_META_PREFIX, for_handshake_client

MAX_INPUT_ROUNDS = 16


class NeedsClientInput(Exception):
    """The upstream asked for input that the calling client cannot be asked for."""


class FederationAdapter:
    """Forwards to the upstream each imported entity came from (`entity["gateway_id"]`)."""

    def __init__(self, federation):
        self.federation = federation
        self.held = HeldCalls()
        self.reads = ReadCache(federation.gateway)

    async def start(self) -> None:
        """Nothing to open: connections belong to the federation, started by `forge_startup`."""

    async def aclose(self) -> None:
        """End the calls held for 2026-07-28 clients; the federation closes its connections in
        `forge_shutdown`."""
        await self.held.aclose()

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation) -> dict:
        params = {"name": tool.get("original_name") or tool["name"], "arguments": dict(arguments)}
        try:
            return await self._forward(
                tool, "tools/call", params, invocation, reads=False, headers=param_headers(tool, arguments)
            )
        except (UpstreamFailure, NeedsClientInput) as failure:
            return error_result(str(failure))

    async def get_prompt(self, prompt: Mapping[str, Any], arguments: Mapping[str, Any], invocation) -> dict:
        params = {"name": prompt.get("original_name") or prompt["name"], "arguments": dict(arguments)}
        return await self._or_error(prompt, "prompts/get", params, invocation)

    async def read_resource(self, resource: Mapping[str, Any], uri: str, invocation) -> dict:
        kept, keep = await self.reads.answer(resource, uri, invocation)
        if kept is not None:
            return kept
        try:
            return await self._or_error(resource, "resources/read", {"uri": uri}, invocation, keep=keep)
        except McpError as error:
            data = error.data if isinstance(error.data, Mapping) else {}
            if (
                invocation is not None
                and not invocation.modern
                and error.code == INVALID_PARAMS
                and data.get("uri") == uri
            ):
                # 2026-07-28 says "not found" with -32602 and data.uri; the handshake era with -32002.
                raise McpError(RESOURCE_NOT_FOUND, error.message, error.data) from None
            raise

    async def complete(self, entity: Mapping[str, Any], params: Mapping[str, Any], invocation) -> dict:
        params = {key: value for key, value in params.items() if key != "_meta"}
        ref = dict(params.get("ref") or {})
        if ref.get("type") == "ref/prompt":
            ref["name"] = entity.get("original_name") or entity["name"]
        return await self._or_error(entity, "completion/complete", {**params, "ref": ref}, invocation)

    async def _or_error(self, entity, method: str, params: dict, invocation, keep=None) -> dict:
        try:
            return await self._forward(entity, method, params, invocation, reads=True, keep=keep)
        except (UpstreamFailure, NeedsClientInput) as failure:
            raise McpError(INTERNAL_ERROR, str(failure)) from None

    async def _forward(
        self, entity, method: str, params: dict, invocation, *, reads: bool, headers=None, keep=None
    ) -> dict:
        """The upstream's answer for `invocation`'s era. `keep(result)`, when given, is handed the
        upstream's own first answer, before the era is translated: with its cache hints."""
        upstream = self.federation.upstream_of(entity)
        base = dict(params)
        meta = forwarded_meta(invocation)
        if meta:
            base["_meta"] = meta
        request = dict(base)
        if invocation is not None and invocation.modern:
            if self.held.is_ours(invocation.request_state):
                return await self.held.resume(invocation, entity)
            if invocation.input_responses is not None:
                request["inputResponses"] = invocation.input_responses
            if invocation.request_state is not None:
                request["requestState"] = invocation.request_state
            # The client answers and retries itself: an upstream's own input_required as it is, and
            # a handshake-era upstream's request for input as one (its call held open meanwhile).

            async def call(held) -> dict:
                return await upstream.call(
                    method, request, invocation, reads=reads, headers=headers, held=held
                )

            result = await self.held.run(call, invocation, entity)
            if keep is not None:
                await keep(result)  # an upstream that asked for input answered input_required
            return result
        for rounds in range(MAX_INPUT_ROUNDS):
            result = await upstream.call(method, request, invocation, reads=reads, headers=headers)
            if result.get("resultType") != "input_required":
                break
            request = {**base, "inputResponses": await ask_client(invocation, result, entity)}
            if isinstance(result.get("requestState"), str):
                request["requestState"] = result["requestState"]
        else:
            raise UpstreamFailure(f"upstream kept asking for input after {MAX_INPUT_ROUNDS} rounds")
        if keep is not None and rounds == 0:  # an answer that took the client's input stays its own
            await keep(result)
        return for_handshake_client(result)


async def ask_client(invocation, result: Mapping[str, Any], entity) -> dict:
    """Ask a handshake-era client each of an `input_required` result's requests, answers keyed alike."""
    if invocation is None or invocation.ask is None:
        wanted = sorted(
            {
                str(request.get("method"))
                for request in (result.get("inputRequests") or {}).values()
                if isinstance(request, Mapping)
            }
        )
        raise NeedsClientInput(
            f"{entity.get('name')!r} needs input from the client ({', '.join(wanted) or 'input'}), and this "
            "client cannot be asked: call it from an MCP client session that declares those capabilities"
        )
    answers = {}
    for key, request in (result.get("inputRequests") or {}).items():
        if not isinstance(request, Mapping) or not isinstance(request.get("method"), str):
            continue
        answers[key] = await invocation.ask(request["method"], dict(request.get("params") or {}))
    return answers


def forwarded_meta(invocation) -> dict:
    """The client's `_meta` for the upstream: progressToken, trace context and vendor keys; the
    protocol's own keys are set again by the session for the upstream's revision."""
    if invocation is None:
        return {}
    return {
        key: value
        for key, value in (invocation.meta or {}).items()
        if not key.startswith(RESERVED_META_PREFIX)
    }


def param_headers(tool: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, str]:
    """The Mcp-Param-* headers a 2026-07-28 upstream expects for the tool's x-mcp-header arguments."""
    declared = declared_param_headers((tool.get("definition") or {}).get("inputSchema"))
    return mcp_param_headers({header.path: header.token for header in declared}, arguments) if declared else {}
