"""The front door: plain-ASGI routes contributed by transports, in front of the Quart app.

Layer: kernel. MCP endpoints (`/mcp`, `/servers/{id}/mcp`, `/rpc`, ...) are matched here and
served without Quart's request machinery; every other path, and the lifespan, go to Quart.
APP_ROOT_PATH is stripped once here, for both, and a request forwarded by one of TRUSTED_PROXIES
gets the client's address, scheme and host in its scope (`forge.forwarded`), for both too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from forge.contracts import AsgiRoute
from forge.forwarded import TrustedProxies
from forge.keepalive import close_when_body_unread
from forge.plugins import PluginError

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def compile_path(path: str) -> re.Pattern:
    pattern, position = [], 0
    for match in _PARAM.finditer(path):
        pattern.append(re.escape(path[position : match.start()]))
        pattern.append(f"(?P<{match.group(1)}>[^/]+)")
        position = match.end()
    pattern.append(re.escape(path[position:]))
    return re.compile("".join(pattern) + "/?")


class ForgeAsgi:
    """The ASGI application a server runs: transport routes first, then Quart."""

    def __init__(
        self,
        quart_app,
        routes: Iterable[tuple[AsgiRoute, str]],
        root_path: str = "",
        trusted_proxies: Iterable[str] = (),
    ):
        self.quart_app = quart_app
        self._quart = close_when_body_unread(quart_app)
        self.root_path = root_path
        self.proxies = TrustedProxies(trusted_proxies) or None  # None: the hot path skips it
        self.exact: dict[str, AsgiRoute] = {}
        self.patterns: list[tuple[re.Pattern, AsgiRoute]] = []
        owners: dict[str, str] = {}
        for route, owner in routes:
            if route.path in owners:
                raise PluginError(f"path {route.path!r} is claimed by both {owners[route.path]} and {owner}")
            owners[route.path] = owner
            if "{" in route.path:
                self.patterns.append((compile_path(route.path), route))
            else:
                self.exact[route.path] = route
                self.exact[route.path + "/"] = route

    def match(self, path: str) -> tuple[AsgiRoute, dict] | None:
        route = self.exact.get(path)
        if route is not None:
            return route, {}
        for pattern, route in self.patterns:
            found = pattern.fullmatch(path)
            if found is not None:
                return route, found.groupdict()
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            if self.proxies is not None:
                scope = self.proxies.rewrite(scope)
            path = scope["path"]
            if self.root_path and path.startswith(self.root_path):
                path = path[len(self.root_path) :] or "/"
                # ASGI's `path` keeps the root path (Quart strips it itself); transports get it stripped.
                scope = {**scope, "root_path": scope.get("root_path", "") + self.root_path}
            matched = self.match(path)
            if matched is not None:
                route, params = matched
                if not route.methods or scope.get("method", "GET") in route.methods:
                    await route.endpoint({**scope, "path": path, "path_params": params}, receive, send)
                    return
        await self._quart(scope, receive, send)
