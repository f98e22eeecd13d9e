"""Which key signs and which verifies, for each JWT algorithm Forge accepts.

Layer: plugin, below the verifier (`jwt_verifier`) and `forge token` (`tokens`). HMAC algorithms
use JWT_SECRET_KEY for both; asymmetric ones verify with JWT_PUBLIC_KEY_FILE and sign with
JWT_PRIVATE_KEY_FILE. A key of the wrong family for JWT_ALGORITHM is refused when it is loaded,
so an RSA public key can never end up used as an HMAC secret (algorithm confusion).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from forge.plugins import PluginError

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
# Asymmetric algorithms and the key types each may use.
KEY_TYPES = {
    **{
        alg: (rsa.RSAPublicKey, rsa.RSAPrivateKey)
        for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    },
    **{alg: (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey) for alg in ("ES256", "ES384", "ES512")},
    "EdDSA": (
        ed25519.Ed25519PublicKey | ed448.Ed448PublicKey,
        ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ),
}
ALGORITHMS = HMAC_ALGORITHMS | KEY_TYPES.keys()


def check_algorithm(algorithm: str, public_key_file: Path | None) -> None:
    """Refuse, with one line, an algorithm Forge does not accept or one missing its key file."""
    if algorithm not in ALGORITHMS:
        raise PluginError(
            f"JWT_ALGORITHM {algorithm!r} is not supported; use one of {', '.join(sorted(ALGORITHMS))}"
        )
    if algorithm not in HMAC_ALGORITHMS and public_key_file is None:
        raise PluginError(f"JWT_ALGORITHM={algorithm} verifies with a public key: set JWT_PUBLIC_KEY_FILE")


def verification_key(algorithm: str, secret: str, public_key_file: Path | None):
    """The key tokens are verified with: the HMAC secret, or the public key read from its file."""
    check_algorithm(algorithm, public_key_file)
    if algorithm in HMAC_ALGORITHMS:
        if not secret:
            raise PluginError("JWT_SECRET_KEY is empty")
        return secret
    return _load(public_key_file, algorithm, public=True)


def signing_key(algorithm: str, secret: str | None, private_key_file: Path | None):
    """The key `forge token` signs with: the HMAC secret, or the private key read from its file."""
    if algorithm not in ALGORITHMS:
        raise PluginError(
            f"JWT_ALGORITHM {algorithm!r} is not supported; use one of {', '.join(sorted(ALGORITHMS))}"
        )
    if algorithm in HMAC_ALGORITHMS:
        return secret
    if private_key_file is None:
        raise PluginError(f"JWT_ALGORITHM={algorithm} signs with a private key: set JWT_PRIVATE_KEY_FILE")
    return _load(private_key_file, algorithm, public=False)


def _load(path: Path, algorithm: str, *, public: bool):
    what = "JWT_PUBLIC_KEY_FILE" if public else "JWT_PRIVATE_KEY_FILE"
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PluginError(f"{what}: cannot read {str(path)!r} ({error.strerror})") from None
    try:
        key = load_pem_public_key(data) if public else load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise PluginError(
            f"{what}: {str(path)!r} is not a PEM {'public' if public else 'private'} key ({error})"
        ) from None
    expected = KEY_TYPES[algorithm][0 if public else 1]
    if not isinstance(key, expected):
        raise PluginError(f"{what}: {str(path)!r} holds {_kind(key)}, which cannot do {algorithm}")
    return key


def _kind(key) -> str:
    kinds = (
        ((rsa.RSAPublicKey, rsa.RSAPrivateKey), "an RSA key"),
        ((ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey), "an EC key"),
        ((ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey), "an Ed25519 key"),
        ((ed448.Ed448PublicKey, ed448.Ed448PrivateKey), "an Ed448 key"),
    )
    return next((label for types, label in kinds if isinstance(key, types)), f"a {type(key).__name__}")
