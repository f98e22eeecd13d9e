"""The tokens panel, present when the auth plugin `auth_basic_jwt` is installed: the tokens this
gateway issued with their state, a form that creates one and shows it once (with a copy button),
and revoking one after a confirmation.

Layer: plugin panels, over `panels.listing` and the auth plugin's `tokens_of(gateway)` (its
`IssuedTokens`: sign, record, list, revoke), found through the plugin manager: this plugin does
not import the auth plugin, and without it the panel and its routes are not there.
"""

from __future__ import annotations

import re

from quart import g, request, url_for

from forge_plugins.admin_ui.forms import FORM_ERROR, FormField, parse, posted_values, values_of
from forge_plugins.admin_ui.pages import flash_redirect, fragment, gateway, page, page_of, require
from forge_plugins.admin_ui.panels import Route
from forge_plugins.admin_ui.panels.listing import Action, Column, ListPage, confirm

AUTH_PLUGIN = "auth_basic_jwt"
PICK_LIMIT = 200  # virtual servers offered as boxes; past it, their scopes are typed
EXPIRIES = (
    ("60", "1 hour"),
    ("1440", "1 day"),
    ("10080", "7 days"),
    ("43200", "30 days"),
    ("129600", "90 days"),
    ("525600", "1 year"),
)
FIELDS = (
    FormField("name", "Name", required=True, help="What the token is for: the job or client using it."),
    FormField("subject", "Subject (optional)", help="Who the token names (its sub claim); empty: you."),
    FormField("expires_minutes", "Expires after", "select", choices=EXPIRIES),
)


def issuer_of(gateway):
    """The auth plugin's `IssuedTokens` for this gateway, or None without the plugin."""
    plugin = gateway.pm.get_plugin(AUTH_PLUGIN)
    tokens_of = getattr(plugin, "tokens_of", None)
    return tokens_of(gateway) if tokens_of is not None else None


async def _rows(gw, query):
    return await issuer_of(gw).page(
        offset=query.offset, limit=query.limit, search=query.search, state=query.state
    )


def _when(field: str):
    return lambda token: token[field].strftime("%Y-%m-%d %H:%M UTC")


def _scope_names(text: str) -> list[str]:
    return [scope for scope in re.split(r"[\s,]+", text or "") if scope]


async def _scopes_picker(form) -> dict:
    chosen = set(form.getlist("scopes")) if form is not None else set()
    servers, total = await gateway().store.list("servers", limit=PICK_LIMIT)
    described = [
        ("admin", "admin: everything, writes included"),
        ("read", "read: reads, and every MCP endpoint"),
        *((f"server:{s['id']}", f"server:{s['id']}: only the MCP endpoints of {s['name']}") for s in servers),
    ]
    options = [(scope, label, scope in chosen) for scope, label in described]
    return {
        "kind": "scopes",
        "key": "scopes",
        "legend": "Scopes (at least one)",
        "help": "What the token may do; a token limited to virtual servers reaches only their endpoints.",
        "options": options,
        "total": len(options),
        "all_listed": total <= PICK_LIMIT,
        "names": form.get("scopes_names", "") if form is not None else "",
    }


async def _form(values: dict, errors: dict, form=None, status: int = 200):
    content = await fragment(
        "form.html",
        spec=PANEL,
        fields=FIELDS,
        entity=None,
        values=values,
        errors=errors,
        title="New token",
        action=url_for("admin_ui.tokens_new"),
        form_error=errors.get(FORM_ERROR),
        gateway=gateway(),
        pickers=[await _scopes_picker(form)],
    )
    return await page("tokens", "New token", content, status)


async def new():
    """The form; posting it signs a token and shows it, this once."""
    await require("write", "tokens")
    if request.method == "GET":
        return await _form(values_of(FIELDS, {"expires_minutes": _default_expiry()}), {})
    form = await request.form
    payload, errors = parse(FIELDS, form)
    tokens = issuer_of(gateway())
    scopes = form.getlist("scopes") + _scope_names(form.get("scopes_names", ""))
    try:
        scopes = await tokens.checked_scopes(scopes)
    except tokens.Refused as error:
        errors["scopes"] = str(error)
    expiry = payload.get("expires_minutes")
    if expiry not in dict(EXPIRIES):
        errors["expires_minutes"] = "choose one of the listed lifetimes"
    if not errors:
        try:
            created = await tokens.issue(
                name=payload["name"],
                scopes=scopes,
                expires_minutes=int(expiry),
                subject=payload.get("subject") or g.principal.name,
                created_by=g.principal.name,
            )
        except tokens.Refused as error:
            errors[error.field or FORM_ERROR] = str(error)
        else:
            title = f"Token {created['name']} created"
            return await page_of("tokens", title, "token_created.html", token=created)
    return await _form(posted_values(FIELDS, form), errors, form, 422)


def _default_expiry() -> str:
    minutes = str(gateway().settings.token_expiry)
    return minutes if minutes in dict(EXPIRIES) else "10080"


async def revoke(entity_id: str):
    """Ask, then revoke: the token is refused on every endpoint from then on."""
    await require("write", "tokens")
    tokens = issuer_of(gateway())
    token = await tokens.get(entity_id)
    if request.method == "POST":
        await tokens.revoke(entity_id, g.principal.name)
        message = f"Token {token['name']!r} revoked."
        return flash_redirect(url_for("admin_ui.panel", panel_id="tokens"), message)
    return await confirm(
        PANEL,
        heading=f"Revoke token {token['name']}?",
        action=url_for("admin_ui.tokens_revoke", entity_id=entity_id),
        button=f"Revoke {token['name']}",
        explanation=[
            f"Whoever uses it ({token['subject']}, scopes {' '.join(token['scopes'])}) is refused from "
            "now on, on the API and every MCP endpoint. This cannot be undone."
        ],
    )


PANEL = ListPage(
    id="tokens",
    title="Tokens",
    singular="token",
    order=70,
    intro=(
        "Bearer tokens this gateway signed, for the API and MCP clients. A token is shown once, when it "
        "is created: Forge keeps its id (jti), never the token. Tokens made offline with forge token "
        "are not listed; revoke one with POST /auth/tokens/{jti}/revoke."
    ),
    new="New token",
    key="jti",
    search_by="name or subject",
    source=_rows,
    states=(("all", "All"), ("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")),
    columns=(
        Column("Name", "name"),
        Column("Subject", "subject"),
        Column("Scopes", lambda token: " ".join(token["scopes"]), "code"),
        Column("Created", _when("created_at")),
        Column("Expires", _when("expires_at")),
        Column("State", "state", "state"),
    ),
    actions=(
        Action("Revoke", "admin_ui.tokens_revoke", danger=True, shown=lambda t: t["state"] == "active"),
    ),
    routes=(
        Route("/tokens/new", "tokens_new", new, ("GET", "POST")),
        Route("/tokens/<entity_id>/revoke", "tokens_revoke", revoke, ("GET", "POST")),
    ),
)
