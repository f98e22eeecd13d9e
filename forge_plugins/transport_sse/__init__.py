"""Forge plugin: MCP's HTTP+SSE transport of 2024-11-05 (`/sse`, `/message`), as server and as
upstream client.

Installed, it is found through the `forge.plugins` entry point; its endpoints arrive with the
transports issue, and until then it contributes no hook.
"""
