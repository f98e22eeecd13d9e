"""A form generated from a JSON Schema: "try it" for tools, the preview of prompts.

Layer: plugin views' helper, no I/O. Each top-level property of an object schema becomes one input:
strings a text box (a list for `enum`), numbers and integers a number box, booleans a checkbox,
anything else a JSON text area. The posted form becomes the arguments dict; what cannot be read
is reported per field, and the kernel then checks the arguments against the schema itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "arg."


@dataclass(frozen=True)
class ArgumentField:
    name: str
    kind: str  # text, textarea, number, integer, boolean, select, json
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    default: str = ""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def input_id(self) -> str:
        return "arg-" + "".join(c if c.isalnum() else "-" for c in self.name)


def _kind(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type decides
        kind = next((k for k in kind if k != "null"), None)
    if spec.get("enum") and all(isinstance(v, str) for v in spec["enum"]):
        return "select"
    if kind == "string":
        return "textarea" if spec.get("format") == "textarea" or spec.get("maxLength", 0) > 200 else "text"
    if kind in ("number", "integer", "boolean"):
        return kind
    return "json"


def argument_fields(schema: Mapping[str, Any] | None) -> list[ArgumentField]:
    schema = schema or {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    fields = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, Mapping) else {}
        kind = _kind(spec)
        default = spec.get("default")
        if default is None:
            shown = ""
        elif kind == "json":
            shown = json.dumps(default)
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
        fields.append(
            ArgumentField(
                name=name,
                kind=kind,
                required=name in required,
                description=str(spec.get("description") or spec.get("title") or ""),
                choices=tuple(spec.get("enum") or ()) if kind == "select" else (),
                default=shown,
            )
        )
    return fields


def posted_arguments(fields: list[ArgumentField], form: Mapping[str, str]) -> dict[str, str]:
    """The raw text of each argument, to fill the form again."""
    return {
        f.name: ("on" if f.input_name in form else "") if f.kind == "boolean" else form.get(f.input_name, "")
        for f in fields
    }


def arguments_from_form(
    fields: list[ArgumentField], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(arguments, errors by argument name). Empty optional inputs are left out of the arguments."""
    arguments: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if field.kind == "boolean":
            if field.input_name in form or field.required:
                arguments[field.name] = field.input_name in form
            continue
        raw = form.get(field.input_name, "")
        if not raw.strip():
            if field.required:
                errors[field.name] = "required"
            continue
        try:
            if field.kind == "integer":
                arguments[field.name] = int(raw.strip())
            elif field.kind == "number":
                number = float(raw.strip())
                arguments[field.name] = int(number) if number.is_integer() and "." not in raw else number
            elif field.kind == "json":
                arguments[field.name] = json.loads(raw)
            else:
                arguments[field.name] = raw.replace("\r\n", "\n")
        except ValueError as error:
            expected = {"integer": "a whole number", "number": "a number"}.get(field.kind)
            errors[field.name] = f"must be {expected}" if expected else f"not valid JSON: {error}"
    return arguments, errors


@dataclass(frozen=True)
class ArgumentForm:
    """A form of arguments as shown: its fields, what each holds, the errors by argument name, and
    the arguments read from it (None until a post reads without an error)."""

    fields: list[ArgumentField]
    values: dict[str, str]
    errors: dict[str, str]
    arguments: dict[str, Any] | None

    def context(self) -> dict[str, Any]:
        return {"fields": self.fields, "values": self.values, "errors": self.errors}


def argument_form(schema: Mapping[str, Any] | None, form: Mapping[str, str] | None) -> ArgumentForm:
    """The form for `schema`: with its defaults, or (`form`, what was posted) filled and read."""
    fields = argument_fields(schema)
    if form is None:
        return ArgumentForm(fields, {field.name: field.default for field in fields}, {}, None)
    arguments, errors = arguments_from_form(fields, form)
    return ArgumentForm(fields, posted_arguments(fields, form), errors, None if errors else arguments)
