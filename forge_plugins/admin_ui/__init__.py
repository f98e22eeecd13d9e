"""Forge plugin: the browser admin UI at /admin, built from the panels plugins contribute.

The UI's own pages (overview, tools, resources, prompts, virtual servers, gateways, metrics, and
tokens when the auth plugin `auth_basic_jwt` is installed) are `AdminPanel`s it contributes through
`forge_admin_panels`, exactly as another plugin's panel would be; the navigation lists
`gateway.admin_panels`, so every plugin's panels appear side by side.

Hooks: `forge_blueprints` (the pages, server-rendered with Jinja, autoescaped), `forge_admin_panels`
(its panels), `forge_authenticate` (its signed session cookie is a credential: a logged-in browser
goes through the kernel's guard like any API caller) and `forge_settings_sections` (ADMIN_UI_*).
The login form checks a user name and password through `forge_authenticate` as Basic credentials,
so whichever authentication plugin is installed decides.
"""

from __future__ import annotations

import sys

from forge.hookspecs import hookimpl
from forge.plugins import PluginError, implementations
from forge_plugins.admin_ui.panels import (
    gateways,
    metrics,
    overview,
    prompts,
    resources,
    servers,
    tokens,
    tools,
)
from forge_plugins.admin_ui.session import principal_from_cookies
from forge_plugins.admin_ui.settings import AdminUiSettings
from forge_plugins.admin_ui.views import build_blueprint

PANELS = tuple(module.PANEL for module in (overview, tools, resources, prompts, servers, gateways, metrics))


def panels_of(gateway) -> tuple:
    """The UI's own panels on this gateway: tokens only where the auth plugin issues them."""
    return PANELS + ((tokens.PANEL,) if tokens.issuer_of(gateway) is not None else ())


@hookimpl
def forge_settings_sections():
    return AdminUiSettings


@hookimpl
def forge_blueprints(gateway):
    _require_another_authenticator(gateway)
    return [build_blueprint(panels_of(gateway))]


def _require_another_authenticator(gateway) -> None:
    """The kernel refuses AUTH_REQUIRED=true without an authentication plugin; this plugin's
    `forge_authenticate` must not count as one, as it only remembers logins another plugin checked."""
    if not gateway.settings.auth_required:
        return
    others = [
        impl
        for impl in implementations(gateway.hook.forge_authenticate)
        if impl.plugin is not sys.modules[__name__] and impl.plugin_name != "anonymous_auth"
    ]
    if not others:
        raise PluginError(
            "AUTH_REQUIRED=true but no authentication plugin is installed (the admin UI only keeps "
            "logins another plugin checked): pip install forge-auth-basic-jwt, or set AUTH_REQUIRED=false for local use"
        )


@hookimpl
def forge_admin_panels(gateway):
    return [panel.admin_panel() for panel in panels_of(gateway)]


@hookimpl
def forge_authenticate(gateway, credentials):
    return principal_from_cookies(gateway, credentials.headers.get("cookie"))
