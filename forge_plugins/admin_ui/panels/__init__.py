"""The UI's own panels, each contributed through `forge_admin_panels` like any plugin's.

Every module here answers one `Panel`, `PANEL`: what the navigation shows (id, title, order), how
its page renders, and the routes its forms and links lead to. List pages are `listing.ListPage`s,
catalog kinds `entities.EntityPages`: a module states only what differs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from quart import Blueprint

from forge.contracts import AdminPanel


@dataclass(frozen=True)
class Route:
    """A route of a panel, under /admin: `rule` ("/tools/<entity_id>/try"), endpoint name, view."""

    rule: str
    endpoint: str
    view: Callable[..., Awaitable]
    methods: tuple[str, ...] = ("GET",)


@dataclass(frozen=True, kw_only=True)
class Panel:
    """A page of the navigation. `view`: async (gateway, request) -> its HTML fragment."""

    id: str
    title: str
    order: int
    view: Callable[..., Awaitable[str]] | None = None
    routes: tuple[Route, ...] = ()

    async def render(self, gateway, request) -> str:
        return await self.view(gateway, request)

    def admin_panel(self) -> AdminPanel:
        return AdminPanel(self.id, self.title, self.render, order=self.order)

    def register(self, blueprint: Blueprint) -> None:
        for route in self.all_routes():
            blueprint.add_url_rule(route.rule, route.endpoint, route.view, methods=list(route.methods))

    def all_routes(self) -> tuple[Route, ...]:
        return self.routes
