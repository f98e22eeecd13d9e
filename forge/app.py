"""The app factory: settings, plugins, gateway, Quart app and the ASGI front door, in that order.

Layer: kernel, the top of it. `create_app()` is what `forge serve` (and any ASGI server, via
`forge.app:app_factory`) runs. Each call builds its own plugin manager and gateway: nothing is
loaded at import time, so tests can build many apps side by side.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from typing import Any

from quart import Quart
from quart_schema import HttpSecurityScheme, Info, QuartSchema

from forge import __version__
from forge.api.bodies import require_json_object
from forge.api.errors import register_error_handlers
from forge.api.guard import authenticate_request
from forge.api.openapi import ForgeOpenApi
from forge.asgi import ForgeAsgi
from forge.gateway import Gateway
from forge.logs import install_request_ids
from forge.plugins import PluginError, build_plugin_manager, flatten, implementations
from forge.registry import answers_by_plugin
from forge.security_headers import CorsForgeAsgi, add_security_headers
from forge.settings import Settings, load_settings

log = logging.getLogger("forge")

# A request allocates a few hundred short-lived containers; with CPython's default (a young
# collection every 700 net allocations) a server process collects every request or two. Measured
# beside the default on tools/call at 32 clients: about a tenth less CPU a call. Only cyclic
# garbage waits longer (the rest is freed by reference counting at once).
SERVER_GC_THRESHOLDS = (50_000, 20, 100)


def create_app(settings: Settings | None = None, *, plugins: Iterable[Any] = ()) -> ForgeAsgi:
    """Build a Forge ASGI app. `plugins` are registered after the installed ones (tests use this)."""
    settings = settings or load_settings()
    pm = build_plugin_manager(settings.plugins_disabled, plugins)
    gateway = Gateway(settings, pm)
    gateway.configure()
    _check_authentication(gateway)

    app = Quart("forge")
    app.config.update(FORGE_GATEWAY=gateway, MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    QuartSchema(
        app,
        info=Info(title=settings.app_name, version=__version__, description="Forge MCP gateway management API"),
        security_schemes={"basic": HttpSecurityScheme(scheme="basic"), "bearer": HttpSecurityScheme(scheme="bearer", bearer_format="JWT")},
        security=[{"basic": []}, {"bearer": []}],
        openapi_provider_class=ForgeOpenApi,
    )
    register_error_handlers(app)
    install_request_ids(app)
    app.before_request(authenticate_request)
    app.before_request(require_json_object)  # every view that validates a body, plugins' too
    app.after_request(add_security_headers)
    _register_blueprints(app, gateway)
    app.before_serving(gateway.start)
    app.after_serving(gateway.stop)

    routes = [(route, name) for name, transport in gateway.transports.items() for route in transport.routes]
    if settings.cors_origins:
        asgi = CorsForgeAsgi(
            app, routes, settings.app_root_path, settings.trusted_proxies, origins=settings.cors_origins
        )
    else:
        asgi = ForgeAsgi(app, routes, settings.app_root_path, settings.trusted_proxies)
    asgi.gateway = gateway
    return asgi


def tune_garbage_collector() -> None:
    """Collect garbage at a server's pace (`SERVER_GC_THRESHOLDS`): for a process that serves
    the gateway, never for one that only builds apps (tests, tools)."""
    gc.set_threshold(*SERVER_GC_THRESHOLDS)


def app_factory() -> ForgeAsgi:
    """Entry point for ASGI servers: `uvicorn --factory forge.app:app_factory`."""
    from forge.logs import configure_logging

    tune_garbage_collector()
    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)


def _register_blueprints(app: Quart, gateway: Gateway) -> None:
    owners: dict[tuple[str, str], str] = {}
    for plugin, answer in answers_by_plugin(gateway.pm, "forge_blueprints", gateway=gateway):
        for blueprint in flatten([answer]):
            known = len(list(app.url_map.iter_rules()))
            app.register_blueprint(blueprint)
            for rule in list(app.url_map.iter_rules())[known:]:
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    key = (rule.rule, method)
                    if key in owners:
                        raise PluginError(f"{method} {rule.rule} is claimed by both {owners[key]} and {plugin}")
                    owners[key] = plugin


def _check_authentication(gateway: Gateway) -> None:
    if not gateway.settings.auth_required:
        log.warning("AUTH_REQUIRED=false: every caller is an administrator. Never expose this gateway.")
        return
    real = [impl for impl in implementations(gateway.hook.forge_authenticate) if impl.plugin_name != "anonymous_auth"]
    if not real:
        raise PluginError(
            "AUTH_REQUIRED=true but no authentication plugin is installed: "
            "pip install forge-auth-basic-jwt, or set AUTH_REQUIRED=false for local use"
        )
