"""Catalog documents: the versioned JSON `forge export` writes and `forge import catalog` reads.

Layer: services. Pure: `export_document` turns a store snapshot into a document, `read_document`
turns a document (Forge's, or ContextForge's through `forge.services.contextforge_import`) into
entity payloads in the management API's shape. The import endpoint (`forge.api.catalog_plan`)
validates those payloads and plans the writes.

A document holds each kind under its own key, members of virtual servers by name (URI for
resources), never by id, so it moves between gateways:

    {"forge_export_version": 1, "exported_at": "...", "secrets": "masked",
     "tools": [...], "resources": [...], "prompts": [...], "servers": [...], "gateways": [...]}

Header values (upstream credentials) are secrets: left out by default (`null` in place of each
value), or sealed under a passphrase (`{"fernet": token}`; key from scrypt over the passphrase and
the document's salt). Entities a gateway federates are not exported: the gateway is, and brings
them back when it connects; a server's member of that kind is written `{"gateway", "name"}`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

EXPORT_VERSION = 1
KINDS = ("tools", "resources", "prompts", "servers", "gateways")  # the order of a document
WRITE_ORDER = ("gateways", "tools", "resources", "prompts", "servers")  # members before their servers
NATURAL_KEYS = {"tools": "name", "resources": "uri", "prompts": "name", "servers": "name", "gateways": "name"}
MEMBER_KINDS = ("tools", "resources", "prompts")
FIELDS = {
    "tools": (
        "name",
        "description",
        "integration_type",
        "url",
        "method",
        "headers",
        "input_schema",
        "output_schema",
        "annotations",
        "timeout",
        "enabled",
    ),
    "resources": ("uri", "name", "description", "mime_type", "text", "blob", "completions", "enabled"),
    "prompts": ("name", "description", "template", "argument_schema", "enabled"),
    "servers": ("name", "description", "icon", "enabled"),
    "gateways": ("name", "url", "transport", "description", "headers", "prefix", "enabled"),
}
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAX_N = 2**20  # a document may not make the importer spend more than this


class DocumentError(ValueError):
    """The document cannot be imported; `details` lists what is wrong, where."""

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.details = details


@dataclass
class Incoming:
    """What a document asks for, in the management API's payload shapes, kind by kind.

    Tools may carry "original_name"; servers carry "tools"/"resources"/"prompts" lists of member
    references (a name, or {"gateway", "name"}); a header value None was left out of the export.
    """

    format: str
    entities: dict[str, list[dict]]
    warnings: list[str] = field(default_factory=list)
    strict_references: bool = True  # False: an unknown server member is a warning, not an error


class SecretBox:
    """Seals and opens header values with a key derived from a passphrase (scrypt, then Fernet)."""

    def __init__(
        self,
        passphrase: str,
        salt: bytes | None = None,
        n: int = SCRYPT["n"],
        r: int = SCRYPT["r"],
        p: int = SCRYPT["p"],
    ):
        if not passphrase:
            raise DocumentError("a passphrase may not be empty")
        self.salt, self.n, self.r, self.p = salt or os.urandom(16), n, r, p
        key = Scrypt(salt=self.salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())
        self.fernet = Fernet(base64.urlsafe_b64encode(key))

    @classmethod
    def for_document(cls, passphrase: str, description: Any) -> SecretBox:
        try:
            salt = base64.b64decode(description["salt"], validate=True)
            n, r, p = int(description["n"]), int(description["r"]), int(description["p"])
        except (KeyError, TypeError, ValueError):
            raise DocumentError(
                'the document\'s "encryption" is not {"kdf": "scrypt", "salt", "n", "r", "p"}'
            ) from None
        if (
            description.get("kdf") != "scrypt"
            or not 2 <= n <= SCRYPT_MAX_N
            or n & (n - 1)
            or not 0 < r * p <= 64
        ):
            raise DocumentError("the document's key derivation parameters are not ones Forge accepts")
        return cls(passphrase, salt, n, r, p)

    def describe(self) -> dict:
        return {
            "cipher": "fernet",
            "kdf": "scrypt",
            "salt": base64.b64encode(self.salt).decode(),
            "n": self.n,
            "r": self.r,
            "p": self.p,
        }

    def seal(self, value: str) -> dict:
        return {"fernet": self.fernet.encrypt(value.encode()).decode()}

    def open(self, sealed: Mapping[str, Any]) -> str:
        try:
            return self.fernet.decrypt(str(sealed["fernet"]).encode()).decode()
        except (InvalidToken, KeyError, UnicodeDecodeError):
            raise DocumentError(
                "wrong passphrase: the document's secrets cannot be decrypted with it"
            ) from None


# --- export -------------------------------------------------------------------------------------


def export_document(
    snapshot: Mapping[str, list[dict]], *, box: SecretBox | None = None, forge_version: str = ""
) -> dict:
    """The catalog in `snapshot` (as `Store.snapshot()` answers it) as a document."""
    gateway_names = {g["id"]: g["name"] for g in snapshot.get("gateways", [])}
    local = {kind: [e for e in snapshot.get(kind, []) if not e.get("gateway_id")] for kind in KINDS}
    document: dict[str, Any] = {
        "forge_export_version": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "forge_version": forge_version,
        "secrets": "encrypted" if box else "masked",
    }
    if box:
        document["encryption"] = box.describe()
    for kind in KINDS:
        entries = []
        for record in sorted(local[kind], key=lambda e: e[NATURAL_KEYS[kind]]):
            entry = {name: record.get(name) for name in FIELDS[kind]}
            if "headers" in entry:
                entry["headers"] = {
                    k: box.seal(v) if box else None for k, v in (entry["headers"] or {}).items()
                }
            if kind == "tools" and record.get("original_name"):
                entry["original_name"] = record["original_name"]
            if kind == "resources":
                entry = {k: v for k, v in entry.items() if v is not None or k not in ("text", "blob")}
            if kind == "servers":
                entry.update(_members(record, snapshot, gateway_names))
            entries.append(entry)
        document[kind] = entries
    return document


def _members(server: Mapping[str, Any], snapshot: Mapping[str, list[dict]], gateway_names) -> dict:
    members = {}
    for kind in MEMBER_KINDS:
        by_id = {e["id"]: e for e in snapshot.get(kind, [])}
        references = []
        for member_id in server.get(f"{kind[:-1]}_ids") or ():
            member = by_id.get(member_id)
            if member is None:
                continue
            key = member[NATURAL_KEYS[kind]]
            owner = member.get("gateway_id")
            references.append({"gateway": gateway_names.get(owner, owner), "name": key} if owner else key)
        members[kind] = sorted(references, key=lambda ref: (isinstance(ref, dict), str(ref)))
    return members


# --- import -------------------------------------------------------------------------------------


def read_document(
    document: Any, *, passphrase: str | None = None, source_secret: str | None = None
) -> Incoming:
    """The entities `document` asks for. Reads Forge's documents and ContextForge's exports;
    `source_secret` is the AUTH_ENCRYPTION_SECRET a ContextForge export's credentials were
    encrypted with. Raises `DocumentError` for anything else, or a document it cannot trust."""
    from forge.services import contextforge_import

    if not isinstance(document, Mapping):
        raise DocumentError("a catalog document is a JSON object")
    if "forge_export_version" in document:
        return _read_forge(document, passphrase)
    if contextforge_import.is_contextforge(document):
        return contextforge_import.read(document, source_secret)
    raise DocumentError(
        'not a catalog export: a Forge export has "forge_export_version", a ContextForge export has '
        '"version" and "entities"'
    )


def _read_forge(document: Mapping[str, Any], passphrase: str | None) -> Incoming:
    version = document["forge_export_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentError(f"forge_export_version must be a positive integer, not {version!r}")
    if version > EXPORT_VERSION:
        raise DocumentError(
            f"forge_export_version {version} is newer than this Forge reads ({EXPORT_VERSION})"
        )
    box = None
    if document.get("secrets") == "encrypted":
        if not passphrase:
            raise DocumentError(
                "the document's secrets are encrypted: give the passphrase it was exported with"
            )
        box = SecretBox.for_document(passphrase, document.get("encryption") or {})
    problems: list[dict] = []
    entities: dict[str, list[dict]] = {}
    for kind in KINDS:
        listed = document.get(kind, [])
        if not isinstance(listed, list):
            problems.append({"field": kind, "message": "must be a list"})
            continue
        entities[kind] = []
        for index, entry in enumerate(listed):
            if not isinstance(entry, Mapping):
                problems.append({"field": f"{kind}[{index}]", "message": "must be an object"})
                continue
            entry = dict(entry)
            if isinstance(entry.get("headers"), Mapping):
                entry["headers"] = {
                    name: box.open(value) if box and isinstance(value, Mapping) else value
                    for name, value in entry["headers"].items()
                }
            entities[kind].append(entry)
    if problems:
        raise DocumentError("the document is not a Forge catalog export", problems)
    return Incoming(format="forge", entities=entities)
