"""What an audit entry keeps of an entity: everything but its secrets.

Layer: plugin (audit). Header values are always masked (they carry upstream credentials); so is
any field whose name says it holds a secret, at any depth, and the password and secret-looking
query parameters of URLs. Schemas are kept as they are (a property named "token" is no secret),
long texts are cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

MASK = "*****"
SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)|secret|token|api[-_]?key|authorization|auth[-_]?(value|header|token|password)"
    r"|credential|private[-_]?key|cookie|signature|salt",
    re.IGNORECASE,
)
HEADER_FIELDS = frozenset({"headers", "auth_headers"})
VERBATIM_FIELDS = frozenset(
    {"input_schema", "output_schema", "argument_schema", "definition", "annotations", "capabilities"}
)
URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*:)[^/?#@]*@", re.IGNORECASE)
URL_SECRET_PARAMETER = re.compile(
    r"([?&][^=&#]*(?:token|key|secret|password|passwd|sig|signature|auth)[^=&#]*=)[^&#]*", re.IGNORECASE
)
MAX_TEXT = 2000


def masked_entity(entity: Mapping[str, Any] | None) -> dict | None:
    """A JSON-ready copy of a stored entity (datetimes as ISO text) with its secrets masked."""
    if entity is None:
        return None
    plain = orjson.loads(orjson.dumps(entity, default=str))
    return {key: _field(key, value) for key, value in plain.items()}


def mask_url(url: str) -> str:
    return URL_SECRET_PARAMETER.sub(rf"\1{MASK}", URL_PASSWORD.sub(rf"\1{MASK}@", url))


def _field(key: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if key in HEADER_FIELDS and isinstance(value, dict):
        return {name: MASK for name in value}
    if key in VERBATIM_FIELDS:
        return value
    if SECRET_NAME.search(key):
        return MASK
    if isinstance(value, str):
        if key == "url" or key.endswith("_url"):
            return mask_url(value)
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"... ({len(value)} characters)"
    if isinstance(value, dict):
        return {name: _field(name, item) for name, item in value.items()}
    if isinstance(value, list):
        return [_field(key, item) for item in value]
    return value
