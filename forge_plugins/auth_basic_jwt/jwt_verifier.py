"""Checking a bearer token: signature, algorithm, lifetime, audience and issuer.

Layer: plugin, below the authenticator. One algorithm is accepted, JWT_ALGORITHM, so a token
naming another (`none`, or HS256 when Forge expects RS256: algorithm confusion) is refused before
its signature is looked at. `exp` and `iat` are required; `nbf` is honoured when present; `aud` and
`iss` are required when JWT_AUDIENCE and JWT_ISSUER are set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from forge_plugins.auth_basic_jwt.keys import check_algorithm, verification_key


class TokenRejected(Exception):
    """The token is not acceptable; the message says why, in words a client can act on."""


class JwtVerifier:
    def __init__(self, settings, auth_settings):
        self.algorithm = settings.jwt_algorithm
        self.secret = settings.jwt_secret_key
        self.public_key_file = auth_settings.jwt_public_key_file
        self.audience = auth_settings.jwt_audience
        self.issuer = auth_settings.jwt_issuer
        self.leeway = auth_settings.jwt_leeway_seconds
        required = ["exp", "iat"] + ["aud"] * bool(self.audience) + ["iss"] * bool(self.issuer)
        self.options = {"require": required}
        check_algorithm(self.algorithm, self.public_key_file)  # a bad setting stops start-up, no disk read
        self._key = None

    def load(self) -> None:
        """Read the verification key (at start-up; a key file is read once)."""
        self._key = verification_key(self.algorithm, self.secret, self.public_key_file)

    def claims(self, token: str) -> Mapping[str, Any]:
        if self._key is None:
            self.load()
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self.options,
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("the token is not valid yet") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected(f"the token is not signed with {self.algorithm}") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected(f"invalid token: {error}") from None
