"""Secrets the store keeps: which fields hold them, how they are sealed, how they are shown.

Layer: kernel, between the store (which seals values with the `forge_secret_codec` answer before
writing them and opens them when reading) and the management API (which shows them masked). The
kernel has no cryptography of its own: without a codec plugin, `PLAINTEXT` stores values as given.
Values are sealed one by one, so a stored header map keeps its names readable and only the values
are ciphertext.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from forge.contracts import SecretCodec

# The fields of each entity kind whose values are secrets: a {name: value} map of strings.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {"tools": ("headers",), "gateways": ("headers",)}
# What the API shows in place of a secret value; sent back unchanged, it keeps the stored value.
MASK = "****"


class Plaintext:
    """The codec in force when no plugin provides one: values are stored as given."""

    def encrypt(self, plaintext: str) -> str:
        return plaintext

    def decrypt(self, stored: str) -> str:
        return stored


PLAINTEXT: SecretCodec = Plaintext()


def _each_value(values: Mapping[str, Any] | None, change: Callable[[str], str]) -> dict | None:
    if values is None:
        return None
    return {name: change(value) if isinstance(value, str) else value for name, value in values.items()}


def seal(kind: str, values: Mapping[str, Any], codec: SecretCodec) -> dict:
    """`values` (a whole record or some changed fields) with its secret fields encrypted."""
    sealed = dict(values)
    for field in SECRET_FIELDS.get(kind, ()):
        if field in sealed:
            sealed[field] = _each_value(sealed[field], codec.encrypt)
    return sealed


def unseal(kind: str, record: Mapping[str, Any], codec: SecretCodec) -> dict:
    """A stored record with its secret fields decrypted; the codec raises `SecretUnreadable`."""
    opened = dict(record)
    for field in SECRET_FIELDS.get(kind, ()):
        if field in opened:
            opened[field] = _each_value(opened[field], codec.decrypt)
    return opened


def reseal(kind: str, record: Mapping[str, Any], old: SecretCodec, new: SecretCodec) -> dict:
    """The secret fields of a stored record, decrypted with `old` and encrypted with `new`."""
    return {
        field: _each_value(record.get(field), lambda value: new.encrypt(old.decrypt(value)))
        for field in SECRET_FIELDS.get(kind, ())
        if field in record
    }


def mask_values(values: Mapping[str, Any] | None) -> dict | None:
    """A {name: secret} map as the API shows it: the names, every value `MASK`."""
    return _each_value(values, lambda value: MASK)


def keep_masked(sent: Mapping[str, Any] | None, stored: Mapping[str, Any] | None) -> dict | None:
    """What to store when a client sends back a map it read: a value equal to `MASK` keeps the
    stored value of that name (matched case-insensitively, as header names are). Raises
    `ValueError` naming a masked value that has no stored value to keep."""
    if sent is None:
        return None
    known = {name.lower(): value for name, value in (stored or {}).items()}
    kept = {}
    for name, value in sent.items():
        if value == MASK:
            if name.lower() not in known:
                raise ValueError(
                    f"{name}: {MASK!r} stands for a stored value, and there is none; send the value"
                )
            value = known[name.lower()]
        kept[name] = value
    return kept
