"""Forge plugin: `forge-stdio`, the bridge for MCP clients that only speak stdio.

A desktop client starts `forge-stdio --url http://host:4444/servers/ID/mcp` (token in FORGE_TOKEN
or `--token`) as if it were a local MCP server; the bridge relays its messages to a remote Forge
over Streamable HTTP (`forge_plugins.transport_stdio.bridge`). The same command is `forge stdio`
and `python -m forge_plugins.transport_stdio`. It serves no endpoint of its own.

`forge-stdio expose --cmd "python server.py" --port 9000` goes the other way: one local stdio
server served over Streamable HTTP (and HTTP+SSE, WebSocket with those plugins) by a cut-down
Forge with a throwaway database (`forge_plugins.transport_stdio.expose` says how). Stdio
upstreams of a full Forge are the federation plugin's (a gateway with transport "stdio").
"""

from __future__ import annotations

from forge.hookspecs import hookimpl
from forge_plugins.transport_stdio.cli import stdio_command


@hookimpl
def forge_cli_commands(cli):
    cli.add_command(stdio_command)
