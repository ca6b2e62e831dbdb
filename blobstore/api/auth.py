"""Who is calling: the identity in the request's bearer token, per AUTH_MODE.

- `gateway` (default): a gateway in front of the service has verified the
  token, so it is only decoded here. It must still be a well-formed JWT, and
  `alg: none` is rejected because no gateway would pass an unsigned token.
  A request without a token is `anonymous`.
- `verify`: the signature, `exp`, `nbf` and, when configured, the audience and
  issuer are checked with the key from JWT_SECRET, JWT_PUBLIC_KEY or
  JWT_JWKS_FILE. A request that needs an identity and has no token gets 401.
- `none`: tokens are ignored and every caller is `anonymous`; for local use.

The user id is the JWT_USER_CLAIM claim (default `sub`). A caller is an admin
when the JWT_ADMIN_CLAIM claim, a list of strings or a space-separated string
such as an OAuth `scope`, contains JWT_ADMIN_VALUE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

import jwt
from starlette.requests import HTTPConnection

from blobstore.api.token_keys import VerificationKey, load_verification_keys
from blobstore.config import AuthSettings
from blobstore.errors import AuthenticationRequired, InvalidToken
from blobstore.service.access import ANONYMOUS, Identity

__all__ = ["ANONYMOUS", "Authenticator", "Identity", "identify"]

MAX_USER_ID_CHARS = 255


def identify(connection: HTTPConnection) -> Identity:
    """Return the caller's identity, raising InvalidToken or AuthenticationRequired (401)."""
    authenticator: Authenticator = connection.app.state.authenticator
    return authenticator.identify(connection.headers.get("authorization"))


class Authenticator:
    """Turns an Authorization header into an Identity; built once per application."""

    def __init__(self, settings: AuthSettings) -> None:
        """Prepare the verification keys, raising ConfigError for a key that cannot be used."""
        self.settings = settings
        self._keys: Mapping[str | None, VerificationKey] = (
            load_verification_keys(settings) if settings.mode == "verify" else {}
        )

    def identify(self, header: str | None) -> Identity:
        if self.settings.mode == "none":
            return Identity(ANONYMOUS)
        if header is None:
            if self.settings.mode == "verify":
                raise AuthenticationRequired(
                    "this request needs an 'Authorization: Bearer <token>' header"
                )
            return Identity(ANONYMOUS)

        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("the Authorization header must be 'Bearer <token>'")

        claims = self._verify(token) if self.settings.mode == "verify" else _decode(token)
        return self._identity(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        header = _unverified_header(token)
        algorithm = header.get("alg")
        key = self._key_for(header.get("kid"))
        if algorithm not in key.algorithms:
            raise InvalidToken(
                "the bearer token's algorithm {algorithm!r} is not allowed (allowed: {allowed})",
                algorithm=str(algorithm),
                allowed=", ".join(key.algorithms),
            )

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(key.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={
                    "require": ["exp"],
                    "verify_aud": self.settings.audience is not None,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the bearer token has expired") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise InvalidToken("the bearer token is not valid yet (nbf or iat)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(
                "the bearer token is not meant for audience {audience!r}",
                audience=str(self.settings.audience),
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(
                "the bearer token was not issued by {issuer!r}", issuer=str(self.settings.issuer)
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(
                "the bearer token lacks the required {claim!r} claim", claim=exc.claim
            ) from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the bearer token's signature is invalid") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(
                "the bearer token is not a valid JWT: {reason}", reason=str(exc)
            ) from exc
        return claims

    def _key_for(self, key_id: object) -> VerificationKey:
        if None in self._keys:
            return self._keys[None]
        if key_id is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if not isinstance(key_id, str) or key_id not in self._keys:
            raise InvalidToken(
                "no key in JWT_JWKS_FILE has the bearer token's key id {key_id!r}",
                key_id=str(key_id),
            )
        return self._keys[key_id]

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        claim = self.settings.user_claim
        user_id = claims.get(claim)
        if not _is_valid_user_id(user_id):
            raise InvalidToken(
                "the bearer token's {claim!r} claim must be a string "
                "of 1 to {max_chars} printable characters",
                claim=claim,
                max_chars=MAX_USER_ID_CHARS,
            )
        return Identity(user_id, is_admin=self._is_admin(claims))

    def _is_admin(self, claims: Mapping[str, Any]) -> bool:
        if self.settings.admin_claim is None:
            return False

        # A dotted name reaches into nested claims, as in Keycloak's realm_access.roles.
        value: Any = claims
        for part in self.settings.admin_claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            return self.settings.admin_value in value.split()
        if isinstance(value, list):
            return self.settings.admin_value in value
        return False


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(
            "the bearer token is not a valid JWT: {reason}", reason=str(exc)
        ) from exc

    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise InvalidToken("the bearer token is unsigned (alg 'none')")
    return header


def _decode(token: str) -> dict[str, Any]:
    """Decode a token that the gateway has verified, checking only its form."""
    _unverified_header(token)
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(
            "the bearer token is not a valid JWT: {reason}", reason=str(exc)
        ) from exc
    return claims


def _is_valid_user_id(value: object) -> TypeGuard[str]:
    # The id is stored in the index and echoed in headers and logs: control
    # characters and lone surrogates (valid JSON, invalid UTF-8) are rejected.
    if not isinstance(value, str) or not 0 < len(value) <= MAX_USER_ID_CHARS:
        return False
    if not value.isprintable():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
