"""The pages every catalog kind shares: its list (a `ListPage` of the store's rows), a form to
create and edit, enable and disable, and delete after a confirmation.

Layer: plugin panels, over `panels.listing`, `forge_plugins.admin_ui.forms` (which validates and
writes exactly as the management API does) and the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from quart import request, url_for

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
from forge_plugins.admin_ui.panels import Route
from forge_plugins.admin_ui.panels.listing import Action, Column, ListPage, Query, confirm

STATES = (("all", "All"), ("enabled", "Enabled"), ("disabled", "Disabled"))
ENABLED = Column("State", "enabled", "onoff")
# Fields most kinds have, as they have them.
NAME = FormField("name", "Name", required=True)
DESCRIPTION = FormField("description", "Description", "textarea", rows=3)


@dataclass(frozen=True, kw_only=True)
class EntityPages(ListPage):
    """How one kind of the catalog looks in the UI: the panel's id is the kind ("tools").
    `actions` are the row's own links, shown before Edit, Enable/Disable and Delete."""

    fields: tuple[FormField, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    states: tuple[tuple[str, str], ...] = STATES
    # async (gateway, payload, form, before) -> payload: what the plain fields cannot express
    adjust: Callable[..., Awaitable[dict]] | None = None
    # async (gateway, entity or None, posted form or None) -> extra template context for the form
    extra_context: Callable[..., Awaitable[dict]] | None = None
    saved_endpoint: str | None = None  # where a save leads (taking entity_id); the list by default

    @property
    def kind(self) -> str:
        return self.id

    @property
    def table_columns(self) -> tuple[Column, ...]:
        return (*self.columns, ENABLED)

    @property
    def row_actions(self) -> tuple[Action, ...]:
        kind = self.id

        def toggle(entity) -> str:
            return "disable" if entity["enabled"] else "enable"

        return (
            *self.actions,
            Action("Edit", f"admin_ui.{kind}_edit"),
            Action(lambda e: toggle(e).capitalize(), lambda e: f"admin_ui.{kind}_{toggle(e)}", post=True),
            Action("Delete", f"admin_ui.{kind}_delete", danger=True),
        )

    def __post_init__(self):
        if self.new is None:
            object.__setattr__(self, "new", f"New {self.singular}")

    async def fetch(self, gw, query: Query) -> tuple[list, int]:
        filters = {} if query.state == "all" else {"enabled": query.state == "enabled"}
        return await gw.store.list(
            self.id, offset=query.offset, limit=query.limit, filters=filters, search=query.search
        )

    def all_routes(self) -> tuple[Route, ...]:
        kind = self.id
        return (
            Route(f"/{kind}/new", f"{kind}_new", _new(self), ("GET", "POST")),
            Route(f"/{kind}/<entity_id>/edit", f"{kind}_edit", _edit(self), ("GET", "POST")),
            Route(f"/{kind}/<entity_id>/delete", f"{kind}_delete", _delete(self), ("GET", "POST")),
            Route(f"/{kind}/<entity_id>/enable", f"{kind}_enable", _toggle(self, True), ("POST",)),
            Route(f"/{kind}/<entity_id>/disable", f"{kind}_disable", _toggle(self, False), ("POST",)),
            *self.routes,
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
        "form.html",
        spec=spec,
        fields=spec.fields,
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
        label = spec.label(entity)
        holders = await _holders(spec.kind, entity_id)
        explanation = ["MCP clients stop seeing it at once. This cannot be undone."]
        if holders:
            several = len(holders) > 1
            held = "It belongs to the virtual server{} <strong>{}</strong>: deleting it also takes it out of {}."
            explanation.insert(
                0, Markup(held).format("s" if several else "", ", ".join(holders), "them" if several else "it")
            )
        return await confirm(
            spec,
            heading=f"Delete {spec.singular} {label}?",
            action=url_for(f"admin_ui.{spec.kind}_delete", entity_id=entity_id),
            button=f"Delete {label}",
            explanation=explanation,
            hidden={"force": "1"} if holders else {},
            error=error,
        )

    delete.__name__ = f"delete_{spec.kind}"
    return delete
