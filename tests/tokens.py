"""Keys and JWTs for the authentication tests, made fresh with `cryptography`.

Tokens are signed with PyJWT; the forged ones (unsigned, or HMAC-signed with a
public key) are assembled by hand, because PyJWT refuses to make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from blobstore.config import AuthSettings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
# Auth settings under which a token whose `roles` claim lists "admin" is an admin's.
ADMIN_AUTH = AuthSettings(admin_claim="roles", admin_value="admin")


@cache
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(sub: str = "alice", lifetime_s: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + lifetime_s, **extra}


def sign(payload: dict[str, Any], key: Any, algorithm: str, kid: str | None = None) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def _segment(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


def hmac_signed(payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token signed with any bytes, such as a public key's PEM text."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_segment(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_user(user: str, *roles: str) -> dict[str, str]:
    """Return the Authorization header of an HS256 token for `user` with these `roles`."""
    return bearer(sign(claims(user, roles=list(roles)), SECRET, "HS256"))
