"""Secrets at rest: AES-GCM with a key derived from AUTH_ENCRYPTION_SECRET.

Layer: plugin, the `forge.contracts.SecretCodec` the store seals upstream headers with. The key
is scrypt(AUTH_ENCRYPTION_SECRET) (slow on purpose, so a weak secret is costly to guess from a
stolen database), derived once per process on first use. A stored value is
`aes-gcm:v1:<base64url(nonce | ciphertext | tag)>`; values without that prefix were stored before
the plugin was installed and are answered as they are (`forge secrets rotate` seals them).
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from forge.contracts import SecretUnreadable
from forge.plugins import PluginError

PREFIX = "aes-gcm:v1:"
SALT = b"forge/auth_basic_jwt/secret-codec/v1"  # fixed: the key must follow from the secret alone
AAD = b"forge stored secret"
NONCE_BYTES = 12


@lru_cache(maxsize=8)
def _aead(secret: str) -> AESGCM:
    return AESGCM(Scrypt(salt=SALT, length=32, n=2**15, r=8, p=1).derive(secret.encode()))


class AesGcmCodec:
    def __init__(self, secret: str):
        if not secret:
            raise PluginError(
                "AUTH_ENCRYPTION_SECRET is empty: set the secret that encrypts stored credentials"
            )
        self._secret = secret

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aead(self._secret).encrypt(nonce, plaintext.encode(), AAD)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            return _aead(self._secret).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], AAD).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with AUTH_ENCRYPTION_SECRET; if the secret was "
                "changed, run `forge secrets rotate --old-secret <previous secret>`"
            ) from None
