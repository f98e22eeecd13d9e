#!/usr/bin/env python3
"""A small MCP server built with the official SDK, for the federation tests (tests/test_federation*.py).

    python tests/federation_upstream.py http --port 8123 --name alpha   # streamable HTTP at /mcp
    python tests/federation_upstream.py http --port 8123 --handshake-only   # refuses 2026-07-28
    python tests/federation_upstream.py sse --port 8123                     # HTTP+SSE at /sse
    python tests/federation_upstream.py stdio --name beta

Tools: `echo` (every upstream has one: names collide across upstreams), `whoami` (the server's
name and process id), `slow` (sleeps), `grow`/`shrink` (add or remove the tool `extra` and
announce it), `grow_quietly` (adds `quiet` without announcing it: only a sync finds it), `count`
(progress and a log message per step), and `ask_name` (elicitation), `ask_model` (sampling) and
`show_roots` (roots/list), which ask the client mid-call as a handshake-era server does. Also a
resource `mem://<name>/greeting` and a prompt `greet`. Both protocol eras are served, unless
`--handshake-only` makes it an older server that knows no 2026-07-28.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import warnings

from mcp import MCPDeprecationWarning, types
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

warnings.filterwarnings("ignore", category=MCPDeprecationWarning)


def build(name: str) -> MCPServer:
    server = MCPServer(f"upstream-{name}", version="1.0.0", log_level="WARNING")

    async def announce(ctx: Context) -> None:
        await ctx.notify_tools_changed()  # 2026-07-28: subscriptions/listen streams
        # Handshake era: the session's own stream (a stateless request has none to write to).
        with contextlib.suppress(Exception):
            await ctx.session.send_tool_list_changed()

    @server.tool(structured_output=False, description="Answers its text, naming the upstream")
    def echo(text: str) -> str:
        return f"{name}: {text}"

    @server.tool(structured_output=False, description="The upstream's name and process id")
    def whoami() -> str:
        return f"{name} {os.getpid()}"

    @server.tool(structured_output=False, description="Sleeps, then answers")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(structured_output=False, description="Adds the tool 'extra' and announces it")
    async def grow(ctx: Context) -> str:
        if "extra" not in [tool.name for tool in await server.list_tools()]:
            server.add_tool(
                lambda: "extra", name="extra", description="Added at run time", structured_output=False
            )
        await announce(ctx)
        return "grown"

    @server.tool(structured_output=False, description="Removes the tool 'extra' and announces it")
    async def shrink(ctx: Context) -> str:
        if "extra" in [tool.name for tool in await server.list_tools()]:
            server.remove_tool("extra")
        await announce(ctx)
        return "shrunk"

    @server.tool(structured_output=False, description="Adds the tool 'quiet' without announcing it")
    async def grow_quietly() -> str:
        if "quiet" not in [tool.name for tool in await server.list_tools()]:
            server.add_tool(
                lambda: "quiet", name="quiet", description="Added silently", structured_output=False
            )
        return "grown quietly"

    @server.tool(structured_output=False, description="Counts to n, reporting progress and logging each step")
    async def count(n: int, ctx: Context) -> str:
        for step in range(1, n + 1):
            await ctx.report_progress(step, n)
            await ctx.info(f"step {step}")
        return f"counted to {n}"

    class Name(BaseModel):
        name: str

    @server.tool(structured_output=False, description="Asks the client for a name (elicitation)")
    async def ask_name(ctx: Context) -> str:
        answer = await ctx.elicit("What is your name?", Name)
        return f"hello {answer.data.name}" if answer.action == "accept" else f"no name ({answer.action})"

    @server.tool(structured_output=False, description="Asks the client's model a question (sampling)")
    async def ask_model(question: str, ctx: Context) -> str:
        message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=question))
        answer = await ctx.session.create_message([message], max_tokens=50)
        return f"the model says {answer.content.text}"

    @server.tool(structured_output=False, description="Lists the client's roots")
    async def show_roots(ctx: Context) -> str:
        listed = await ctx.session.list_roots()
        return "roots: " + ", ".join(str(root.uri) for root in listed.roots)

    @server.resource(f"mem://{name}/greeting", name="greeting", mime_type="text/plain")
    def greeting() -> str:
        return f"hello from {name}"

    @server.prompt(description="A greeting")
    def greet(who: str) -> str:
        return f"{name} greets {who}"

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("transport", choices=("http", "sse", "stdio"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--name", default="upstream")
    parser.add_argument("--handshake-only", action="store_true", help="refuse the 2026-07-28 revision")
    args = parser.parse_args()
    server = build(args.name)
    if args.transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    if args.transport == "sse":
        app = server.sse_app()
    else:
        app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
        if args.handshake_only:
            app = handshake_only(app)
    # Clients may hold streams open (Forge holds a subscriptions/listen stream): do not wait for them.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=1)


def handshake_only(app):
    """An older server: a 2026-07-28 request is refused as an unknown protocol version."""

    async def refusing(scope, receive, send):
        headers = dict(scope.get("headers") or ())
        if scope["type"] == "http" and headers.get(b"mcp-protocol-version") == b"2026-07-28":
            body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Unsupported protocol version"}}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return refusing


if __name__ == "__main__":
    main()
