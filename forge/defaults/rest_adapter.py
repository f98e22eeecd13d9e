"""Default plugin: the REST tool adapter, which turns a tool call into one HTTP request.

Arguments named in the tool's URL template (`https://api.example.com/users/{id}`) fill it; the
rest travel as the query string for GET and DELETE, as a JSON body otherwise. The answer becomes
MCP content: its text, plus `structuredContent` when the tool declares an output schema and the
answer is JSON. 4xx/5xx answers, timeouts and connection failures are `isError` results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from forge.hookspecs import hookimpl
from forge.services.tools import error_result
from forge.services.uri_templates import UriTemplate

BODYLESS_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
ERROR_BODY_CHARS = 2000  # how much of a failed answer the client sees


class RestAdapter:
    def __init__(self, timeout: float):
        self.timeout = timeout
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation=None) -> dict:
        method = (tool.get("method") or "POST").upper()
        template = UriTemplate(tool["url"])
        rest = {key: value for key, value in arguments.items() if key not in template.variables}
        request: dict[str, Any] = {"headers": dict(tool.get("headers") or {})}
        if method in BODYLESS_METHODS:
            request["params"] = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in rest.items()}
        else:
            request["content"] = orjson.dumps(rest)
            request["headers"].setdefault("content-type", "application/json")
        timeout = tool.get("timeout") or self.timeout
        try:
            response = await self.client.request(method, template.expand(arguments), timeout=timeout, **request)
        except httpx.TimeoutException:
            return error_result(f"Tool {tool['name']!r}: the upstream did not answer within {timeout:g}s")
        except httpx.HTTPError as failure:
            return error_result(f"Tool {tool['name']!r}: the upstream request failed: {failure!r}")
        return self._result(tool, response)

    def _result(self, tool: Mapping[str, Any], response: httpx.Response) -> dict:
        text = response.text
        if response.is_error:
            return error_result(
                f"Tool {tool['name']!r}: the upstream answered HTTP {response.status_code} "
                f"{response.reason_phrase}: {text[:ERROR_BODY_CHARS]}"
            )
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if tool.get("output_schema") and "json" in response.headers.get("content-type", ""):
            try:
                result["structuredContent"] = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                return error_result(f"Tool {tool['name']!r}: the upstream's JSON answer could not be parsed")
        return result


@hookimpl
def forge_tool_adapters(gateway):
    return {"REST": RestAdapter(gateway.settings.tool_timeout)}
