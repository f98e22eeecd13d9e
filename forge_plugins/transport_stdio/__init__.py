"""Forge plugin: the `forge-stdio` bridge for desktop MCP clients, and stdio upstream servers.

Installed, it is found through the `forge.plugins` entry point; its commands arrive with the
transports issue, and until then it contributes no hook.
"""
