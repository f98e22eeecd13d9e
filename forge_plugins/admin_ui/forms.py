"""HTML forms for the catalog's entities: what each field is, how posted text becomes an API payload,
and how a refusal becomes a message next to the field it concerns.

Layer: plugin views' helpers, over the management API's own models and rules
(`forge.api.entities.ENTITY_APIS`): a tool saved here is checked exactly as one POSTed to /tools,
and lands in the store the same way (catalog rebuilt, MCP clients told).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from quart import g

from forge.api.crud import EntityApi
from forge.api.entities import ENTITY_APIS
from forge.api.errors import ApiError
from forge.secrets import SECRET_FIELDS, mask_values
from forge.store.repository import StoreError

APIS: dict[str, EntityApi] = {api.kind: api for api in ENTITY_APIS}
FORM_ERROR = "__form__"  # the key of errors that belong to no single field


@dataclass(frozen=True)
class FormField:
    """One input. `widget`: text, url, textarea (kept verbatim), json, select, checkbox, number."""

    name: str
    label: str
    widget: str = "text"
    required: bool = False
    help: str = ""
    choices: tuple[tuple[str, str], ...] | Callable[[Any], list[tuple[str, str]]] = ()
    rows: int = 6
    source: str | None = None  # the stored field it shows, when not `name` (a resource's text is "content")
    omit_empty: bool = False  # left empty: not sent at all (the stored value, or the default, stays)

    def options(self, gateway) -> list[tuple[str, str]]:
        return list(self.choices(gateway) if callable(self.choices) else self.choices)


class FormErrors(Exception):
    """The form cannot be saved: {field name or FORM_ERROR: message}."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# Fields holding secrets in any kind (tool and gateway headers): a form never shows their values.
SECRET_NAMES = frozenset(name for names in SECRET_FIELDS.values() for name in names)


def values_of(fields: tuple[FormField, ...], entity: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows for a stored entity (or for defaults)."""
    values: dict[str, Any] = {}
    for field in fields:
        value = entity.get(field.source or field.name)
        if (field.source or field.name) in SECRET_NAMES:
            value = mask_values(value)  # shown masked; saving the mask back keeps the stored secret
        if field.widget == "json":
            values[field.name] = (
                "" if value in (None, {}) and not field.required else json.dumps(value, indent=2)
            )
        elif field.widget == "checkbox":
            values[field.name] = bool(value)
        else:
            values[field.name] = "" if value is None else str(value)
    return values


def posted_values(fields: tuple[FormField, ...], form: Mapping[str, str]) -> dict[str, Any]:
    """What the user typed, to show again beside the errors."""
    return {
        field.name: (field.name in form) if field.widget == "checkbox" else form.get(field.name, "")
        for field in fields
    }


def parse(fields: tuple[FormField, ...], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Posted text → (payload values, errors): a field whose text is not what it wants (a required
    one left empty, JSON that does not parse) has an error and no value."""
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        raw = form.get(field.name, "")
        if field.widget == "checkbox":
            payload[field.name] = field.name in form
            continue
        if field.widget == "textarea":
            text = raw.replace("\r\n", "\n")  # browsers send CRLF; templates and content keep LF
            value: Any = text if text.strip() else None
        else:
            value = raw.strip() or None
        if value is None:
            if field.required:
                errors[field.name] = "required"
            elif not field.omit_empty:
                payload[field.name] = None
            continue
        if field.widget == "json":
            try:
                value = json.loads(value)
            except ValueError as error:
                errors[field.name] = f"not valid JSON: {error}"
                continue
        elif field.widget == "number":
            try:
                value = float(value)
            except ValueError:
                errors[field.name] = "must be a number"
                continue
        payload[field.name] = value
    return payload, errors


def _pydantic_errors(error: ValidationError, fields: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        location = [str(part) for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        key = location[0] if location and location[0] in fields else FORM_ERROR
        if key == FORM_ERROR and location:
            message = f"{'.'.join(location)}: {message}"
        errors.setdefault(key, message)
    return errors


def _api_errors(error: ApiError | StoreError, fields: set[str], natural_key: str) -> dict[str, str]:
    details = getattr(error, "details", None)
    if isinstance(details, list):
        found = {
            d["field"]: d["message"] for d in details if isinstance(d, dict) and d.get("field") in fields
        }
        if found:
            return found
    if isinstance(details, dict):
        found = {k: str(error) for k in details if k in fields}
        if found:
            return found
    message = getattr(error, "message", None) or str(error)
    if getattr(error, "code", "") == "conflict" and "already exists" in message and natural_key in fields:
        return {natural_key: message}
    return {FORM_ERROR: message}


async def save(
    gateway,
    kind: str,
    payload: Mapping[str, Any],
    entity_id: str | None = None,
    field_names: set[str] = frozenset(),
    errors: Mapping[str, str] | None = None,
) -> dict:
    """Validate `payload` as the management API would, write it, rebuild the catalog; answer the
    stored entity. Raises `FormErrors` naming the fields at fault (those of `field_names` or
    `payload`; any other error is the form's), with `errors` found before (by `parse`) first:
    the payload is still validated then, so the user sees every mistake at once."""
    api = APIS[kind]
    found = dict(errors or {})
    fields = set(payload) | set(field_names) | set(found)
    natural_key = "uri" if kind == "resources" else "name"
    model = api.update_model if entity_id else api.create_model
    try:
        data = model.model_validate({k: v for k, v in payload.items() if k not in found})
    except ValidationError as error:
        raise FormErrors({**_pydantic_errors(error, fields), **found}) from None
    store = gateway.store
    try:
        before = await store.get(kind, entity_id) if entity_id else None
        values = api.to_values(data, before or {})
        if found:
            raise FormErrors(found)
        after = await store.update(kind, entity_id, values) if entity_id else await store.create(kind, values)
    except (ApiError, StoreError) as error:
        raise FormErrors({**_api_errors(error, fields, natural_key), **found}) from None
    await written(gateway, api, before, after)
    return after


async def written(gateway, api: EntityApi, before: dict | None, after: dict | None) -> None:
    """What the management API does after each write: MCP clients hear of it, and plugins
    (`forge_after_entity_write`: the federation plugin connects a new gateway)."""
    await gateway.apply_catalog_changes([(api.kind, (after or before)["id"], after)])
    if api.after_write is not None:
        await api.after_write(gateway, before, after)
    await gateway.entity_written(api.kind, before, after, g.principal)
