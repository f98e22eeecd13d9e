"""Default plugin: `forge plugin new NAME`, which writes a third-party plugin distribution that works
on the first try: a pyproject with the `forge.plugins` entry point, a package implementing one hook
(`forge_blueprints`), a README and a test that starts a gateway with the plugin installed.

The files are templates shipped inside the kernel (`forge/defaults/plugin_template/*.tmpl`,
`string.Template` syntax), so the kit needs nothing but Forge itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from string import Template

import click

from forge.hookspecs import hookimpl

TEMPLATE_FOLDER = "defaults/plugin_template"
# template file -> where it goes in the new distribution ({package} is filled in)
TEMPLATE_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "plugin.py.tmpl": "{package}/__init__.py",
    "test_plugin.py.tmpl": "tests/test_{package}.py",
}
NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class PluginNames:
    """The names of one plugin: `name` (entry point, PLUGINS_DISABLED), `dist` and `package`."""

    name: str
    dist: str
    package: str

    @classmethod
    def parse(cls, raw: str) -> PluginNames:
        name = re.sub(r"[-.]+", "_", raw.strip().lower()).removeprefix("forge_")
        if not NAME.fullmatch(name):
            raise click.BadParameter(
                f"{raw!r}: use letters, digits, '-' and '_', starting with a letter (e.g. guardrail, my-tools)"
            )
        return cls(name=name, dist="forge-" + name.replace("_", "-"), package="forge_" + name)


def taken_names() -> set[str]:
    """Plugin names already used by the kernel's defaults or an installed distribution."""
    from forge.plugins import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, default_plugin_name

    installed = {entry_point.name for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return installed | {default_plugin_name(module) for module in DEFAULT_PLUGINS}


def render(names: PluginNames, target: Path) -> list[Path]:
    """Write the distribution's files under `target` (created; must not exist or be empty)."""
    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{target} already exists and is not empty")
    templates = resources.files("forge").joinpath(TEMPLATE_FOLDER)
    written = []
    for template_name, relative in TEMPLATE_FILES.items():
        text = Template(templates.joinpath(template_name).read_text(encoding="utf-8")).substitute(vars(names))
        path = target / relative.format(package=names.package)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@click.group("plugin")
def plugin_group():
    """Write Forge plugins."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the distribution's folder in.",
)
def new(name, directory):
    """Scaffold the plugin distribution forge-NAME: pyproject, package, README and a test."""
    names = PluginNames.parse(name)
    if names.name in taken_names():
        raise click.ClickException(
            f"a plugin named {names.name!r} is already installed or built in; pick another"
        )
    target = directory / names.dist
    render(names, target)
    shown = target.as_posix() if target.is_absolute() else f"./{target.as_posix()}"  # pip needs the ./
    click.echo(f"created {shown}/ (distribution {names.dist}, package {names.package}, plugin {names.name})")
    click.echo("next:")
    click.echo(f"  pip install -e '{shown}[test]'")
    click.echo(f"  pytest {shown}")
    click.echo(f"  forge plugins    # lists {names.name}")


@hookimpl
def forge_cli_commands(cli):
    cli.add_command(plugin_group)
