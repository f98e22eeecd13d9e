"""Forge plugin: MCP over WebSocket (`/ws`, `/servers/{id}/ws`), as server and as upstream client.

Installed, it is found through the `forge.plugins` entry point; its endpoints arrive with the
transports issue, and until then it contributes no hook.
"""
