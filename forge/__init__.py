"""Forge: a pluggable Model Context Protocol gateway.

The kernel is small: an app factory (`forge.app`), a plugin manager (`forge.plugins`) reading the
hookspecs a plugin author implements (`forge.hookspecs`), settings (`forge.settings`), the MCP
engine (`forge.mcp`), the store (`forge.store`) and the management API (`forge.api`). Everything
else, the kernel's own defaults included (`forge.defaults`), is a plugin.
"""

__version__ = "0.1.0"
