"""The pages every catalog kind shares: a searchable, paginated list, a form to create and edit,
enable and disable, and delete after a confirmation.

Layer: plugin panels, over `forge_plugins.admin_ui.forms` (which validates and writes exactly as the
management API does) and the store. Lists are pages the store cuts (`offset`, `limit`, a count):
a catalog of 10,000 tools renders one page of 50, never all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, request, url_for

from forge.contracts import AdminPanel
from forge.store.repository import Conflict
from forge_plugins.admin_ui.forms import (
    APIS,
    FORM_ERROR,
    FormErrors,
    FormField,
    parse,
    posted_values,
    save,
    values_of,
    written,
)
from forge_plugins.admin_ui.pages import back_to, flash_redirect, fragment, gateway, page, require
from forge_plugins.admin_ui.settings import settings_of

STATES = (("all", "All"), ("enabled", "Enabled"), ("disabled", "Disabled"))


@dataclass(frozen=True)
class Column:
    """A column of a list: a field name or a function of the entity; `kind`: text, code, link."""

    label: str
    value: str | Callable[[Mapping[str, Any]], Any]
    kind: str = "text"

    def of(self, entity: Mapping[str, Any]) -> Any:
        return entity.get(self.value) if isinstance(self.value, str) else self.value(entity)


@dataclass(frozen=True)
class EntityPages:
    """How one kind looks in the UI."""

    kind: str
    title: str
    singular: str
    order: int
    fields: tuple[FormField, ...]
    columns: tuple[Column, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    label_key: str = "name"
    actions: tuple[tuple[str, str], ...] = ()  # (link text, endpoint taking entity_id) on each row
    intro: str = ""
    # async (gateway, payload, form, before) -> payload: what the plain fields cannot express
    adjust: Callable[..., Awaitable[dict]] | None = None
    # async (gateway, entity or None, posted form or None) -> extra template context for the form
    extra_context: Callable[..., Awaitable[dict]] | None = None
    saved_endpoint: str | None = None  # where a save leads (taking entity_id); the list by default

    def label(self, entity: Mapping[str, Any]) -> str:
        return str(entity.get(self.label_key) or entity.get("id"))


def panel(spec: EntityPages) -> AdminPanel:
    async def render(gateway, request) -> str:
        return await list_fragment(spec, request.args)

    return AdminPanel(spec.kind, spec.title, render, order=spec.order)


async def list_fragment(spec: EntityPages, args: Mapping[str, str]) -> str:
    await require("read", spec.kind)
    size = settings_of(gateway()).page_size
    query = (args.get("q") or "").strip()[:255]
    state = args.get("state") if args.get("state") in ("enabled", "disabled") else "all"
    try:
        number = max(int(args.get("page") or 1), 1)
    except ValueError:
        number = 1
    filters = {} if state == "all" else {"enabled": state == "enabled"}
    items, total = await gateway().store.list(
        spec.kind, offset=(number - 1) * size, limit=size, filters=filters, search=query or None
    )
    pages = max((total + size - 1) // size, 1)
    if number > pages and total:  # past the end (a filter shrank the list): show the last page
        number = pages
        items, total = await gateway().store.list(
            spec.kind, offset=(number - 1) * size, limit=size, filters=filters, search=query or None
        )

    def link(to: int) -> str:
        params = {
            k: v for k, v in (("q", query), ("state", state if state != "all" else ""), ("page", to)) if v
        }
        return url_for("admin_ui.panel", panel_id=spec.kind) + ("?" + urlencode(params) if params else "")

    first = (number - 1) * size + 1 if total else 0
    listing = {
        "rows": items,
        "total": total,
        "page": number,
        "pages": pages,
        "first": first,
        "last": first + len(items) - 1 if items else 0,
        "previous": link(number - 1) if number > 1 else None,
        "next": link(number + 1) if number < pages else None,
    }
    return await fragment("entity_list.html", spec=spec, listing=listing, q=query, state=state, states=STATES)


def register(blueprint: Blueprint, spec: EntityPages) -> None:
    kind = spec.kind
    blueprint.add_url_rule(f"/{kind}/new", f"{kind}_new", _new(spec), methods=["GET", "POST"])
    blueprint.add_url_rule(f"/{kind}/<entity_id>/edit", f"{kind}_edit", _edit(spec), methods=["GET", "POST"])
    blueprint.add_url_rule(
        f"/{kind}/<entity_id>/delete", f"{kind}_delete", _delete(spec), methods=["GET", "POST"]
    )
    for state in ("enable", "disable"):
        blueprint.add_url_rule(
            f"/{kind}/<entity_id>/{state}",
            f"{kind}_{state}",
            _toggle(spec, state == "enable"),
            methods=["POST"],
        )


async def form_page(
    spec: EntityPages, entity: Mapping | None, values: dict, errors: dict, status: int = 200, form=None
):
    extra = await spec.extra_context(gateway(), entity, form) if spec.extra_context else {}
    title = f"Edit {spec.singular} {spec.label(entity)}" if entity else f"New {spec.singular}"
    action = (
        url_for(f"admin_ui.{spec.kind}_edit", entity_id=entity["id"])
        if entity
        else url_for(f"admin_ui.{spec.kind}_new")
    )
    content = await fragment(
        "entity_form.html",
        spec=spec,
        entity=entity,
        values=values,
        errors=errors,
        title=title,
        action=action,
        form_error=errors.get(FORM_ERROR),
        gateway=gateway(),
        **extra,
    )
    return await page(spec.kind, title, content, status)


async def _submit(spec: EntityPages, entity: Mapping | None):
    """Save the posted form; on refusal show it again with each error beside its field."""
    form = await request.form
    payload, errors = parse(spec.fields, form)
    try:
        if spec.adjust:
            try:
                payload = await spec.adjust(gateway(), payload, form, entity)
            except FormErrors as refused:
                errors = {**refused.errors, **errors}
        names = {f.name for f in spec.fields} | {"tool_ids", "resource_ids", "prompt_ids"}
        saved = await save(gateway(), spec.kind, payload, entity["id"] if entity else None, names, errors)
    except FormErrors as refused:
        return await form_page(spec, entity, posted_values(spec.fields, form), refused.errors, 422, form)
    verb = "saved" if entity else "created"
    if spec.saved_endpoint:
        target = url_for(spec.saved_endpoint, entity_id=saved["id"])
    else:
        target = url_for("admin_ui.panel", panel_id=spec.kind)
    return flash_redirect(target, f"{spec.singular.capitalize()} {spec.label(saved)!r} {verb}.")


def _new(spec: EntityPages):
    async def new():
        await require("write", spec.kind)
        if request.method == "POST":
            return await _submit(spec, None)
        return await form_page(spec, None, values_of(spec.fields, spec.defaults), {})

    new.__name__ = f"new_{spec.kind}"
    return new


def _edit(spec: EntityPages):
    async def edit(entity_id: str):
        await require("write", spec.kind)
        entity = await gateway().store.get(spec.kind, entity_id)
        if request.method == "POST":
            return await _submit(spec, entity)
        return await form_page(spec, entity, values_of(spec.fields, entity), {})

    edit.__name__ = f"edit_{spec.kind}"
    return edit


def _toggle(spec: EntityPages, enabled: bool):
    async def toggle(entity_id: str):
        await require("write", spec.kind)
        store = gateway().store
        before = await store.get(spec.kind, entity_id)
        after = await store.update(spec.kind, entity_id, {"enabled": enabled})
        await written(gateway(), APIS[spec.kind], before, after)
        state = "enabled" if enabled else "disabled"
        message = f"{spec.singular.capitalize()} {spec.label(after)!r} {state}."
        return flash_redirect(back_to("admin_ui.panel", panel_id=spec.kind), message)

    toggle.__name__ = f"{'enable' if enabled else 'disable'}_{spec.kind}"
    return toggle


async def _holders(kind: str, entity_id: str) -> list[str]:
    """Names of the virtual servers holding an entity (what a delete would take it out of)."""
    if kind not in ("tools", "resources", "prompts"):
        return []
    servers, _ = await gateway().store.list("servers", limit=1000)
    return [s["name"] for s in servers if entity_id in s.get(f"{kind[:-1]}_ids", ())]


def _delete(spec: EntityPages):
    async def delete(entity_id: str):
        await require("write", spec.kind)
        store = gateway().store
        entity = await store.get(spec.kind, entity_id)
        error = None
        if request.method == "POST":
            force = (await request.form).get("force") == "1"
            try:
                await store.delete(spec.kind, entity_id, force=force)
            except Conflict as conflict:
                error = str(conflict)
            else:
                await written(gateway(), APIS[spec.kind], entity, None)
                message = f"{spec.singular.capitalize()} {spec.label(entity)!r} deleted."
                return flash_redirect(url_for("admin_ui.panel", panel_id=spec.kind), message)
        holders = await _holders(spec.kind, entity_id)
        content = await fragment(
            "confirm_delete.html",
            spec=spec,
            entity=entity,
            holders=holders,
            error=error,
            label=spec.label(entity),
        )
        return await page(spec.kind, f"Delete {spec.singular}", content, 409 if error else 200)

    delete.__name__ = f"delete_{spec.kind}"
    return delete
