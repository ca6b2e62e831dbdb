"""Who is calling: the identity that the gateway put in the bearer token.

The gateway verifies tokens before requests reach us, so here the token is
only decoded, not verified. It must still be a well-formed JWT, and a token
that declares `alg: none` is rejected because no gateway would sign one.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from starlette.requests import HTTPConnection

from blobstore.errors import InvalidToken

__all__ = ["ANONYMOUS", "Identity", "identify"]

ANONYMOUS = "anonymous"
USER_CLAIM = "sub"
MAX_USER_ID_CHARS = 255


@dataclass(frozen=True)
class Identity:
    user_id: str


def identify(connection: HTTPConnection) -> Identity:
    """Return the caller's identity, `anonymous` when no bearer token was sent."""
    header = connection.headers.get("authorization")
    if header is None:
        return Identity(ANONYMOUS)

    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header must be 'Bearer <token>'")

    try:
        algorithm = jwt.get_unverified_header(token.strip()).get("alg")
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"the bearer token is not a valid JWT: {exc}") from exc

    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise InvalidToken("the bearer token is unsigned (alg 'none')")
    user_id = claims.get(USER_CLAIM)
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidToken(
            f"the bearer token's '{USER_CLAIM}' claim must be a string of 1 to "
            f"{MAX_USER_ID_CHARS} characters"
        )
    return Identity(user_id)
