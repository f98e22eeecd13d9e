"""Default plugin: import and export, and client configurations.

Routes: `POST /tools/import/openapi`, `GET /export`, `POST /import` (`forge.api.imports`) and
`GET /servers/{id}/client-config` (`forge.api.client_config`). Commands: `forge import openapi`,
`forge import catalog`, `forge export`, `forge client-config`.

The commands are clients of a running Forge's management API (so the running gateway's catalog
and its MCP clients see every change at once): `--url` (default: http://HOST:PORT of the
settings, or FORGE_API_URL), authenticated with FORGE_TOKEN when set, else with the Basic
credentials of the settings.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from forge.hookspecs import hookimpl


@hookimpl
def forge_blueprints(gateway):
    from forge.api.client_config import blueprint as client_config
    from forge.api.imports import blueprint as imports

    return [imports, client_config]


@hookimpl
def forge_cli_commands(cli):
    cli.add_command(export_command)
    cli.add_command(import_group)
    cli.add_command(client_config_command)


# --- talking to Forge ---------------------------------------------------------------------------


class Failure(click.ClickException):
    """One readable line (and the details Forge gave), exit status 1."""

    def __init__(self, message: str, details=None):
        super().__init__(message)
        self.details = details or []

    def show(self, file=None) -> None:
        click.echo(f"forge: {self.message}", err=True)
        for detail in self.details:
            where = detail.get("field") or detail.get("path") or ""
            click.echo(f"  {where}: {detail.get('message')}" if where else f"  {detail}", err=True)


class ForgeApi:
    """A small synchronous client of the management API."""

    def __init__(self, url: str | None, token: str | None):
        from forge.settings import load_settings

        settings = load_settings()
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        self.url = (url or f"http://{host}:{settings.port}{settings.app_root_path}").rstrip("/")
        self.auth = None if token else (settings.basic_auth_user, settings.basic_auth_password)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, **options) -> dict:
        import httpx

        headers = {**self.headers, **options.pop("headers", {})}
        try:
            response = httpx.request(
                method, self.url + path, headers=headers, auth=self.auth, timeout=300, **options
            )
        except httpx.HTTPError as error:
            raise Failure(f"cannot reach Forge at {self.url} ({error}); is it running? (--url)") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            error = (body or {}).get("error") if isinstance(body, dict) else None
            if not error:
                raise Failure(f"Forge answered HTTP {response.status_code}: {response.text[:300]}")
            details = error.get("details")
            raise Failure(
                error.get("message", error.get("code")), details if isinstance(details, list) else None
            )
        return body


def api_options(token_option: str = "--token"):
    def decorate(command):
        command = click.option(
            token_option,
            "api_token",
            envvar="FORGE_TOKEN",
            help="Bearer token for Forge's API [env FORGE_TOKEN].",
        )(command)
        return click.option(
            "--url",
            envvar="FORGE_API_URL",
            help="Forge's base URL (default http://HOST:PORT) [env FORGE_API_URL].",
        )(command)

    return decorate


# --- export and import --------------------------------------------------------------------------


@click.command("export")
@api_options()
@click.option("--include-secrets", is_flag=True, help="Seal header values (credentials) under --passphrase.")
@click.option("--passphrase", envvar="FORGE_EXPORT_PASSPHRASE", help="[env FORGE_EXPORT_PASSPHRASE]")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File to write (default: stdout).")
def export_command(url, api_token, include_secrets, passphrase, output):
    """Print the whole catalog as one JSON document (header values left out unless sealed)."""
    if include_secrets and not passphrase:
        raise Failure("--include-secrets needs --passphrase (or FORGE_EXPORT_PASSPHRASE)")
    options = {"params": {"include_secrets": "true"}, "headers": {"X-Forge-Passphrase": passphrase}}
    document = ForgeApi(url, api_token).call("GET", "/export", **(options if include_secrets else {}))
    json.dump(document, output, indent=2, ensure_ascii=False)
    output.write("\n")


@click.group("import")
def import_group():
    """Import tools from an OpenAPI document, or a whole catalog document."""


@import_group.command("openapi")
@click.argument("spec")
@api_options()
@click.option("--base-url", help="Server URL to use instead of the document's servers[0].")
@click.option(
    "-H", "--header", "headers", multiple=True, help="'Name: value' stored on operations that need auth."
)
@click.option(
    "--credential",
    envvar="FORGE_IMPORT_CREDENTIAL",
    help="Token or key, sent as the spec's security scheme says.",
)
@click.option("--scheme", help="Security scheme --credential is for (default: each operation's).")
@click.option("--tag", "include_tags", multiple=True, help="Only operations with this tag (repeatable).")
@click.option("--exclude-tag", "exclude_tags", multiple=True, help="Leave out operations with this tag.")
@click.option("--path", "include_paths", multiple=True, help="Only paths matching this glob, e.g. '/pets*'.")
@click.option("--exclude-path", "exclude_paths", multiple=True, help="Leave out paths matching this glob.")
@click.option("--prefix", default="", help="Put before every tool name, e.g. 'petstore_'.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--prune", is_flag=True, help="Delete tools of earlier imports whose operation is gone.")
@click.option("--no-validate", is_flag=True, help="Import a document the validator finds invalid.")
@click.option("--json", "as_json", is_flag=True, help="Print Forge's answer as JSON.")
def import_openapi(spec, url, api_token, headers, no_validate, as_json, **options):
    """Turn each operation of an OpenAPI 3.x or Swagger 2.0 document (a file, or a URL Forge
    fetches) into a REST tool; a later import updates what changed."""
    from forge.services.openapi_import import SpecError, load_document

    body = {
        key: list(value) if isinstance(value, tuple) else value for key, value in options.items() if value
    }
    body["headers"] = dict(_header(value) for value in headers) or None
    body["validate_spec"] = not no_validate
    if re.match(r"^https?://", spec):
        body["url"] = spec
    else:
        try:
            body["spec"] = load_document(_read(spec))
        except SpecError as error:
            raise Failure(f"{spec}: {error}") from None
    report = ForgeApi(url, api_token).call("POST", "/tools/import/openapi", json=body)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    api = report["api"]
    click.echo(
        f"{api['title']} {api['version']} at {api['base_url']}"
        + (" (dry run: nothing changed)" if report["dry_run"] else "")
    )
    _line("created", report["created"])
    _line("updated", [f"{u['name']} ({', '.join(u['fields'])})" for u in report["updated"]])
    _line("unchanged", report["unchanged"])
    gone = "pruned" if report["pruned"] else "removed from spec (kept; --prune deletes them)"
    _line(gone, report["pruned"] or report["removed_from_spec"])
    _line("skipped", [f"{s['operation']}: {s['reason']}" for s in report["skipped"]], many_lines=True)
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}")


@import_group.command("catalog")
@click.argument("file")
@api_options()
@click.option(
    "--on-conflict",
    type=click.Choice(["skip", "update", "rename"]),
    default="update",
    show_default=True,
    help="For an entity the catalog has in another form.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--passphrase",
    envvar="FORGE_EXPORT_PASSPHRASE",
    help="Opens sealed secrets [env FORGE_EXPORT_PASSPHRASE].",
)
@click.option(
    "--source-secret",
    envvar="FORGE_SOURCE_SECRET",
    help="A ContextForge export's AUTH_ENCRYPTION_SECRET (default: the gateway's) [env FORGE_SOURCE_SECRET].",
)
@click.option("--json", "as_json", is_flag=True, help="Print Forge's answer as JSON.")
def import_catalog(file, url, api_token, on_conflict, dry_run, passphrase, source_secret, as_json):
    """Import a catalog document (`forge export`'s, or a ContextForge export); '-' reads stdin.
    A document with any problem changes nothing."""
    try:
        document = json.loads(_read(file))
    except ValueError as error:
        raise Failure(f"{file} is not JSON: {error}") from None
    body = {
        "document": document,
        "on_conflict": on_conflict,
        "dry_run": dry_run,
        "passphrase": passphrase,
        "source_secret": source_secret,
    }
    report = ForgeApi(url, api_token).call("POST", "/import", json=body)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['format']} document" + (" (dry run: nothing changed)" if report["dry_run"] else ""))
    for section in ("created", "updated", "renamed", "unchanged", "skipped"):
        for kind in ("gateways", "tools", "resources", "prompts", "servers"):
            entries = report[section].get(kind, [])
            shown = [
                f"{e['name']} ({', '.join(e['fields'])})"
                if section == "updated"
                else f"{e['from']} -> {e['to']}"
                if section == "renamed"
                else e
                for e in entries
            ]
            _line(f"{section} {kind}", shown)
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}")


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise Failure(f"cannot read {source}: {error.strerror}") from None


def _header(value: str) -> tuple[str, str]:
    name, separator, content = value.partition(":")
    if not separator or not name.strip():
        raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
    return name.strip(), content.strip()


def _line(label: str, items: list[str], many_lines: bool = False) -> None:
    if not items:
        return
    if many_lines:
        click.echo(f"  {label}:")
        for item in items:
            click.echo(f"    {item}")
    else:
        click.echo(f"  {label:<10} {', '.join(items)}")


# --- client configurations ----------------------------------------------------------------------


@click.command("client-config")
@click.option("--server", "server_id", required=True, help="The virtual server's id.")
@click.option(
    "--for",
    "client",
    type=click.Choice(["claude-desktop", "vscode", "cursor", "generic"]),
    default="generic",
    show_default=True,
    help="The MCP client to configure.",
)
@click.option("--token", help="Token to write into the configuration (default: a placeholder).")
@api_options("--api-token")
def client_config_command(server_id, client, token, url, api_token):
    """Print the JSON an MCP client needs to reach one virtual server."""
    from forge.services.client_config import client_config

    api = ForgeApi(url, api_token)
    if token:
        config = client_config(client, api.call("GET", f"/servers/{server_id}"), api.url, token=token)
    else:
        config = api.call(
            "GET", f"/servers/{server_id}/client-config", params={"for": client, "url": api.url}
        )
    click.echo(json.dumps(config, indent=2))
