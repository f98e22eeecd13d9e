"""The plugin manager: which plugins are loaded, in what order, and how their answers are awaited.

Layer: kernel. Built once per app by the app factory (and by the CLI), never at import time.
Order: the kernel's defaults are registered first, entry points of the `forge.plugins` group
second, plugins passed in code last. pluggy calls the newest registration first, so a third-party
plugin is asked before the default it replaces.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pluggy

from forge import hookspecs

ENTRY_POINT_GROUP = "forge.plugins"

# The kernel's own behaviour, shipped as plugins registered through the same hooks.
DEFAULT_PLUGINS = (
    "forge.defaults.cli_commands",
    "forge.defaults.plugin_kit",
    "forge.defaults.sql_store",
    "forge.defaults.cache",
    "forge.defaults.anonymous_auth",
    "forge.defaults.scope_permissions",
    "forge.defaults.rest_adapter",
    "forge.defaults.management_api",
    "forge.defaults.catalog_io",
    "forge.defaults.streamable_http",
)

log = logging.getLogger("forge.plugins")


class PluginError(Exception):
    """A plugin could not be loaded or conflicts with another; the message is one readable line."""


def default_plugin_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def build_plugin_manager(disabled: Iterable[str] = (), extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A fresh plugin manager with defaults, installed entry points and `extra_plugins`, minus `disabled`.

    A plugin's name is its entry-point name, or for defaults the module's last segment
    (`sql_store`, `streamable_http`, ...); disabling one by name blocks it before it loads.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        name = default_plugin_name(module_name)
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(module_name), name=name)
    _load_entry_points(pm)
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if not pm.is_blocked(name):
            pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {error.plugin!r} implements a hook Forge does not define: {error}") from None
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Load the `forge.plugins` entry points (blocked names are skipped by pluggy itself)."""
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as error:
        raise PluginError(f"an installed Forge plugin failed to import: {error!r}") from error


def describe_plugins(pm: pluggy.PluginManager) -> list[dict]:
    """Name, distribution, version and implemented hooks of every loaded plugin, in load order."""
    distributions = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    described = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # a blocked (disabled) name
            continue
        dist = distributions.get(id(plugin))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        described.append(
            {
                "name": name,
                "distribution": dist.metadata["Name"] if dist else "forge-gateway (built in)",
                "version": dist.version if dist else _kernel_version(),
                "hooks": hooks,
            }
        )
    return described


def _kernel_version() -> str:
    from forge import __version__

    return __version__


def has_implementations(hook: pluggy.HookCaller) -> bool:
    """True when some plugin implements `hook`: lets the hot path skip hooks nobody uses."""
    return bool(hook.get_hookimpls())


async def resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def implementations(hook: pluggy.HookCaller) -> list:
    """A hook's implementations in call order (pluggy calls the last registered first)."""
    return [impl for impl in reversed(hook.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)]


def call_implementation(impl, kwargs: dict) -> Any:
    return impl.function(*[kwargs[name] for name in impl.argnames])


async def first_answer(hook: pluggy.HookCaller, **kwargs) -> Any:
    """The first non-None answer of `hook`, awaiting each implementation's answer in call order.

    Implementations run one at a time, so a later plugin is not even called once an earlier one
    answered; that keeps `firstresult` semantics for async implementations.
    """
    for impl in implementations(hook):
        answer = await resolve(call_implementation(impl, kwargs))
        if answer is not None:
            return answer
    return None


async def all_answers(hook: pluggy.HookCaller, **kwargs) -> list:
    """Every non-None answer of `hook`, each awaited, in call order."""
    return [await resolve(answer) for answer in hook(**kwargs) if answer is not None]


async def rewrite_chain(hook: pluggy.HookCaller, key: str, apply=None, **kwargs) -> Any:
    """Call `hook`'s implementations one at a time; a non-None answer replaces `kwargs[key]` (through
    `apply(old, answer)` when given) for the implementations after it. Answers the final value."""
    for impl in implementations(hook):
        answer = await resolve(call_implementation(impl, kwargs))
        if answer is not None:
            kwargs[key] = apply(kwargs[key], answer) if apply else answer
    return kwargs[key]


def flatten(answers: Iterable[Any]) -> list:
    """Hooks may answer one object or a list of them; make it one flat list."""
    flat = []
    for answer in answers:
        if answer is None:
            continue
        flat.extend(answer if isinstance(answer, list | tuple) else [answer])
    return flat
