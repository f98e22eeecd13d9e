"""The `forge` command line. Its commands come from plugins (`forge_cli_commands`); the kernel's
own (`serve`, `db upgrade`, `plugins`) are the default plugin `forge.defaults.cli_commands`.

Layer: kernel, the outermost. Settings and plugin errors end the command with one line.
"""

from __future__ import annotations

import sys

import click

from forge.plugins import PluginError, build_plugin_manager
from forge.settings import SettingsError, load_settings


class ForgeGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (SettingsError, PluginError) as error:
            click.echo(f"forge: {error}", err=True)
            sys.exit(2)


def build_cli(extra_plugins=()) -> click.Group:
    @click.group(cls=ForgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
    def cli():
        """Forge, a pluggable MCP gateway."""

    try:
        disabled = load_settings().plugins_disabled
    except SettingsError:
        disabled = []  # commands still load; running one reports the bad setting
    pm = build_plugin_manager(disabled, extra_plugins)
    pm.hook.forge_cli_commands(cli=cli)
    return cli


def main() -> None:
    try:
        cli = build_cli()
    except PluginError as error:
        click.echo(f"forge: {error}", err=True)
        sys.exit(2)
    cli(prog_name="forge")
