"""Default plugin: the REST tool adapter, which turns a tool call into one HTTP request.

Arguments named in the tool's URL template (`https://api.example.com/users/{id}`) fill it; the
rest travel as the query string for GET and DELETE, as a JSON body otherwise. A property of the
input schema may place its argument explicitly with `"x-forge-in"`: "query", "header", or "body"
(the argument is the whole JSON body), sent under the name `"x-forge-name"` when the wire name is
not a tidy property name (OpenAPI imports use this for header parameters, query parameters of a
POST, and array bodies).

The answer becomes MCP content: its text, plus `structuredContent` when the tool declares an
output schema and the answer is JSON. 4xx/5xx answers, timeouts and connection failures are
`isError` results.

The HTTP client is aiohttp's, one pooled keep-alive session per gateway: measured on the bench's
echo upstream it spends about a third of the CPU per call of httpx with aiohttp's transport
(httpx-aiohttp), and a seventh to a twentieth of plain httpx, whose connection pool scans every
connection on every request (README, "The REST adapter's HTTP client").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from forge.capped_read import ResponseTooLarge, read_capped
from forge.hookspecs import hookimpl
from forge.outbound import OutboundPolicy, OutboundRefused
from forge.services.tools import error_result
from forge.services.uri_templates import UriTemplate

BODYLESS_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
PLACES = frozenset({"query", "header", "body"})
NO_BODY = object()
ERROR_BODY_CHARS = 2000  # how much of a failed answer the client sees
MAX_CONNECTIONS = 256  # open connections to all upstreams together; more calls wait for one
PLANS_KEPT = 10_000  # tools whose parsed URL template and placements are kept between calls
# An idle upstream connection is not reused after this: under the 5 s after which uvicorn,
# Hypercorn and Node close idle connections, so Forge never sends a call (a POST, which aiohttp
# does not retry) down a connection the upstream is closing at that moment.
KEEPALIVE_SECONDS = 4.0


class RestAdapter:
    def __init__(
        self, timeout: float, policy: OutboundPolicy | None = None, max_response_bytes: int = 16 * 2**20
    ):
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.policy = policy or OutboundPolicy()
        self.client: aiohttp.ClientSession | None = None
        # id(tool) -> (tool, its plan): a catalog's tool dicts live until a write replaces them,
        # so each is parsed once, not on every call; holding the tool keeps its id from reuse.
        self._plans: dict[int, tuple[Mapping[str, Any], tuple]] = {}

    async def start(self) -> None:
        self.client = self.policy.aiohttp_session(  # connects only where OUTBOUND_ALLOW lets it
            connector={"limit": MAX_CONNECTIONS, "keepalive_timeout": KEEPALIVE_SECONDS},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            raise_for_status=False,
        )

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation=None) -> dict:
        method, template, placed = self._plan(tool)
        request: dict[str, Any] = {"headers": dict(tool.get("headers") or {})}
        params, rest, body = {}, {}, NO_BODY
        for key, value in arguments.items():
            if key in template.variables:
                continue
            where, wire = placed.get(key, (None, key))
            if where == "query":
                params[wire] = _text(value)
            elif where == "header":
                request["headers"][wire] = _text(value)
            elif where == "body":
                body = value
            else:
                rest[wire] = value
        if method in BODYLESS_METHODS or body is not NO_BODY:
            params.update({key: _text(value) for key, value in rest.items()})
        else:
            body = rest
        if params:
            request["params"] = params
        if body is not NO_BODY:
            request["data"] = orjson.dumps(body)
            if not any(name.lower() == "content-type" for name in request["headers"]):
                request["headers"]["content-type"] = "application/json"
        timeout = tool.get("timeout") or self.timeout
        if timeout != self.timeout:
            request["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self.client.request(method, template.expand(arguments), **request) as response:
                content = await read_capped(response, self.max_response_bytes)
        except TimeoutError:
            return error_result(f"Tool {tool['name']!r}: the upstream did not answer within {timeout:g}s")
        except (OutboundRefused, ResponseTooLarge) as refused:
            return error_result(f"Tool {tool['name']!r}: {refused}")
        except (aiohttp.ClientError, ValueError) as failure:  # ValueError: a URL or header aiohttp refuses
            return error_result(f"Tool {tool['name']!r}: the upstream request failed: {failure!r}")
        return self._result(tool, response, content)

    def _plan(self, tool: Mapping[str, Any]) -> tuple[str, UriTemplate, dict[str, tuple[str, str]]]:
        """(HTTP method, URL template, argument placements) of a tool, parsed once per definition."""
        kept = self._plans.get(id(tool))
        if kept is not None and kept[0] is tool:
            return kept[1]
        if len(self._plans) >= PLANS_KEPT:
            self._plans.clear()
        plan = ((tool.get("method") or "POST").upper(), UriTemplate(tool["url"]), placements(tool.get("input_schema")))
        self._plans[id(tool)] = (tool, plan)
        return plan

    def _result(self, tool: Mapping[str, Any], response: aiohttp.ClientResponse, content: bytes) -> dict:
        text = _decode(content, response.charset)
        if response.status >= 400:
            return error_result(
                f"Tool {tool['name']!r}: the upstream answered HTTP {response.status} "
                f"{response.reason or ''}: {text[:ERROR_BODY_CHARS]}"
            )
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if tool.get("output_schema") and "json" in response.headers.get("content-type", ""):
            try:
                result["structuredContent"] = orjson.loads(content)
            except orjson.JSONDecodeError:
                return error_result(f"Tool {tool['name']!r}: the upstream's JSON answer could not be parsed")
        return result


def _decode(content: bytes, charset: str | None) -> str:
    """The answer as text: in its declared charset, else UTF-8; undecodable bytes replaced."""
    try:
        return content.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def placements(input_schema: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """{argument: (where, wire name)} for the properties that say where they go (`x-forge-in`)."""
    properties = (input_schema or {}).get("properties") or {}
    return {
        name: (spec["x-forge-in"], spec.get("x-forge-name") or name)
        for name, spec in properties.items()
        if isinstance(spec, Mapping) and spec.get("x-forge-in") in PLACES
    }


@hookimpl
def forge_tool_adapters(gateway):
    settings = gateway.settings
    return {
        "REST": RestAdapter(
            settings.tool_timeout, OutboundPolicy.of(settings), settings.upstream_max_response_bytes
        )
    }
