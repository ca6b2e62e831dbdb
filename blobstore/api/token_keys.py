"""The keys that bearer tokens are verified with under AUTH_MODE=verify.

The allowed algorithms come from the configuration and the key's own type,
never from a token: an RSA public key only verifies RS*/PS* signatures, so a
token that says HS256 and was signed with the public key's PEM text as an HMAC
secret is rejected before any signature is computed (the key-confusion
attack). Keys are parsed once, when the application is built, so a bad key
stops start-up with a ConfigError naming the variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from blobstore.config import AuthSettings, ConfigError

__all__ = ["VerificationKey", "load_verification_keys"]

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# The ECDSA algorithm that each curve is defined for (RFC 7518 section 3.4).
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True)
class VerificationKey:
    """A key object prepared for PyJWT and the algorithms it may verify."""

    key: Any
    algorithms: tuple[str, ...]


def load_verification_keys(settings: AuthSettings) -> Mapping[str | None, VerificationKey]:
    """Parse the configured key into verification keys by key id.

    JWT_SECRET and JWT_PUBLIC_KEY give one key under the id None, used for
    every token; JWT_JWKS_FILE gives one key per `kid`.
    """
    if settings.secret is not None:
        algorithms = _allowed(settings, "JWT_SECRET", HMAC_ALGORITHMS, HMAC_ALGORITHMS[:1])
        return {None: _checked("JWT_SECRET", settings.secret.encode(), algorithms)}
    if settings.public_key is not None:
        return {None: _pem_key(settings.public_key, settings)}
    if settings.jwks is not None:
        return _jwks_keys(settings.jwks, settings)
    raise ConfigError("AUTH_MODE", settings.mode, "set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_FILE")


def _pem_key(pem: str, settings: AuthSettings) -> VerificationKey:
    try:
        public_key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError("JWT_PUBLIC_KEY", "<PEM>", f"not a PEM public key: {exc}") from exc

    if isinstance(public_key, rsa.RSAPublicKey):
        usable: tuple[str, ...] = RSA_ALGORITHMS
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        usable = tuple(
            algorithm
            for curve, algorithm in EC_ALGORITHMS.items()
            if curve == public_key.curve.name
        )
    elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        usable = ("EdDSA",)
    else:
        raise ConfigError(
            "JWT_PUBLIC_KEY", "<PEM>", f"unsupported key type {type(public_key).__name__}"
        )
    algorithms = _allowed(settings, "JWT_PUBLIC_KEY", usable, usable[:1])
    return _checked("JWT_PUBLIC_KEY", public_key, algorithms)


def _jwks_keys(jwks: str, settings: AuthSettings) -> dict[str | None, VerificationKey]:
    try:
        key_set = jwt.PyJWKSet.from_dict(json.loads(jwks))
    except (ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
        raise ConfigError("JWT_JWKS_FILE", "<JWKS>", f"not a usable JWK set: {exc}") from exc

    keys: dict[str | None, VerificationKey] = {}
    for jwk in key_set.keys:
        if jwk.key_type == "oct":
            # A shared secret in a key set meant for public keys would let
            # anyone who can read the set sign tokens.
            raise ConfigError(
                "JWT_JWKS_FILE", "<JWKS>", "holds a symmetric (oct) key; use JWT_SECRET instead"
            )
        algorithm = jwk.algorithm_name
        if settings.algorithms and algorithm not in settings.algorithms:
            continue
        keys[jwk.key_id] = _checked("JWT_JWKS_FILE", jwk.key, (algorithm,))

    if not keys:
        raise ConfigError(
            "JWT_JWKS_FILE", "<JWKS>", "holds no key for the algorithms in JWT_ALGORITHMS"
        )
    return keys


def _allowed(
    settings: AuthSettings, variable: str, usable: tuple[str, ...], default: tuple[str, ...]
) -> tuple[str, ...]:
    if not settings.algorithms:
        return default
    unusable = [name for name in settings.algorithms if name not in usable]
    if unusable:
        raise ConfigError(
            "JWT_ALGORITHMS",
            ",".join(settings.algorithms),
            f"{', '.join(unusable)} cannot be used with the key in {variable} "
            f"(usable: {', '.join(usable)})",
        )
    return settings.algorithms


def _checked(variable: str, key: Any, algorithms: tuple[str, ...]) -> VerificationKey:
    """Reject keys that PyJWT considers too short for one of their algorithms."""
    for name in algorithms:
        algorithm = jwt.get_algorithm_by_name(name)
        warning = algorithm.check_key_length(algorithm.prepare_key(key))
        if warning is not None:
            raise ConfigError(variable, "<hidden>", warning)
    return VerificationKey(key=key, algorithms=algorithms)
