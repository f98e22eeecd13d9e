"""The settings reference, generated from the settings models: the kernel's `forge.settings.Settings`
and the section every installed plugin contributes through `forge_settings_sections`. Each
variable gets its environment name, type and limits, default and description.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from dataclasses import dataclass

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings
from ref_markdown import cell, code, escape, table

LIMITS = (
    (Ge, "ge", "≥"),
    (Gt, "gt", ">"),
    (Le, "le", "≤"),
    (Lt, "lt", "<"),
    (MinLen, "min_length", "length ≥"),
    (MaxLen, "max_length", "length ≤"),
)


@dataclass(frozen=True)
class Section:
    """A settings class and who contributes it (None: the kernel)."""

    model: type[BaseSettings]
    plugin: str | None = None
    distribution: str | None = None


def sections() -> list[Section]:
    """The kernel's settings, then every installed plugin's section, by plugin name."""
    from forge.plugins import build_plugin_manager, describe_plugins, flatten
    from forge.registry import answers_by_plugin
    from forge.settings import Settings

    pm = build_plugin_manager()
    distributions = {plugin["name"]: plugin["distribution"] for plugin in describe_plugins(pm)}
    found = [
        Section(model, plugin, distributions.get(plugin))
        for plugin, answer in answers_by_plugin(pm, "forge_settings_sections")
        for model in flatten([answer])
    ]
    return [Section(Settings), *sorted(found, key=lambda section: (section.plugin, section.model.__name__))]


def variable_names(model: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables that set `field` (upper case; pydantic-settings ignores case)."""
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    return [(model.model_config.get("env_prefix", "") + name).upper()]


def type_name(annotation) -> str:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(code(value) for value in arguments)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(argument) for argument in arguments)
    if annotation is type(None):
        return "none"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in arguments)}]"
    return getattr(annotation, "__name__", str(annotation))


def limits(field: FieldInfo) -> str:
    said = []
    for item in field.metadata:
        for kind, attribute, sign in LIMITS:
            if isinstance(item, kind):
                said.append(f"{sign} {getattr(item, attribute)}")
    return ", ".join(said)


def default_value(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "*required*"
    if value is None:
        return "*none*"
    if value == "" or value == []:
        return "*empty*"
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, list | dict):
        return code(json.dumps(value))
    return code(value)


def render_section(section: Section) -> list[str]:
    model = section.model
    prefix = model.model_config.get("env_prefix", "")
    if section.plugin is None:
        title, intro = "Kernel", escape(inspect.getdoc(model) or "")
    else:
        title = f"{section.plugin} plugin"
        intro = (
            f"Contributed by the {code(section.plugin)} plugin ({code(section.distribution or '?')}) through "
            f"`forge_settings_sections`; "
            + (f"its variables start with {code(prefix)}. " if prefix else "its variables have no prefix. ")
            + f"Plugins read it as {code(f'gateway.plugin_settings[{model.__name__!r}]')}."
        )
    rows = []
    for name, field in model.model_fields.items():
        kind = type_name(field.annotation)
        bounds = limits(field)
        rows.append(
            [
                "<br>".join(code(variable) for variable in variable_names(model, name, field)),
                f"{kind} ({escape(bounds)})" if bounds else kind,
                default_value(field),
                cell(field.description or ""),
            ]
        )
    return [f"## {title}", "", intro, "", table(["variable", "type", "default", "description"], rows), ""]


def render() -> str:
    out = [
        "# Settings",
        "",
        "<!-- Generated from the settings models by docs/gen/ref_settings.py; edit the Field descriptions. -->",
        "",
        "Forge reads its settings from the environment and from a `.env` file in the working directory;",
        "the environment wins. Names are case-insensitive. A list takes a comma-separated value or a JSON",
        "list (`PLUGINS_DISABLED=admin_ui,transport_ws`). A bad value stops start-up with one line naming",
        "the variable. Besides the kernel's settings, each installed plugin may contribute a section of",
        "its own: this page lists those of the plugins installed where the documentation was built.",
        "",
    ]
    for section in sections():
        out += render_section(section)
    return "\n".join(out).rstrip() + "\n"
