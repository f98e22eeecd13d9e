"""Forge plugin: federation of upstream MCP servers and peer Forge gateways.

Installed, it is found through the `forge.plugins` entry point; registration, sync, health and
forwarding arrive with the federation issue, and until then it contributes no hook.
"""
