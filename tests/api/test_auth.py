"""Identity from bearer tokens under AUTH_MODE gateway, verify and none."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore import cli
from blobstore.api.auth import Authenticator
from blobstore.config import AuthSettings, ConfigError, Settings
from blobstore.errors import AuthenticationRequired, InvalidToken
from blobstore.service.access import Identity
from tests.helpers import app_client, row_counts, upload
from tests.tokens import (
    SECRET,
    bearer,
    claims,
    ec_private_key,
    hmac_signed,
    public_pem,
    rsa_private_key,
    sign,
    unsigned,
)

HS256 = AuthSettings(mode="verify", secret=SECRET)


def rs256() -> AuthSettings:
    return AuthSettings(mode="verify", public_key=public_pem(rsa_private_key()))


def identify(settings: AuthSettings, token: str | None) -> Identity:
    header = None if token is None else f"Bearer {token}"
    return Authenticator(settings).identify(header)


def rejection(settings: AuthSettings, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        identify(settings, token)
    return caught.value.detail


# Gateway mode: decoded, not verified.


def test_gateway_takes_user_from_sub_without_verifying() -> None:
    token = sign(claims("bob"), "a-key-the-service-never-sees-0123456789", "HS256")

    assert identify(AuthSettings(), token) == Identity("bob")


def test_gateway_without_token_is_anonymous() -> None:
    assert identify(AuthSettings(), None) == Identity("anonymous")


def test_gateway_rejects_alg_none() -> None:
    assert "unsigned (alg 'none')" in rejection(AuthSettings(), unsigned(claims()))


def test_gateway_rejects_malformed_token() -> None:
    assert "not a valid JWT" in rejection(AuthSettings(), "abc.def")


def test_custom_user_claim_names_the_user() -> None:
    settings = AuthSettings(user_claim="email")
    token = sign(claims(email="carol@example.org"), SECRET, "HS256")

    assert identify(settings, token).user_id == "carol@example.org"


def test_missing_user_claim_is_rejected() -> None:
    settings = AuthSettings(user_claim="email")

    assert "'email' claim" in rejection(settings, sign(claims(), SECRET, "HS256"))


@pytest.mark.parametrize(
    ("admin_claim", "value", "is_admin"),
    [
        ("roles", ["user", "admin"], True),
        ("roles", ["user"], False),
        ("scope", "files:read admin files:write", True),
        ("scope", "files:read administrator", False),
        ("realm_access.roles", {"roles": ["admin"]}, True),
        ("roles", 1, False),
    ],
    ids=["list", "list-without", "scope", "scope-prefix", "nested", "number"],
)
def test_admin_claim_forms(admin_claim: str, value: object, is_admin: bool) -> None:
    settings = AuthSettings(admin_claim=admin_claim, admin_value="admin")
    top_level = admin_claim.split(".")[0]
    token = sign(claims(**{top_level: value}), SECRET, "HS256")

    assert identify(settings, token).is_admin is is_admin


def test_admin_claim_unset_makes_nobody_admin() -> None:
    token = sign(claims(roles=["admin"]), SECRET, "HS256")

    assert identify(AuthSettings(), token).is_admin is False


# Verify mode with a shared secret.


def test_verify_accepts_valid_hs256_token() -> None:
    assert identify(HS256, sign(claims("dave"), SECRET, "HS256")) == Identity("dave")


def test_verify_rejects_expired_token() -> None:
    token = sign(claims(lifetime_s=-3600), SECRET, "HS256")

    assert rejection(HS256, token) == "the bearer token has expired"


def test_verify_rejects_token_not_yet_valid() -> None:
    token = sign(claims(nbf=int(claims()["iat"]) + 3600), SECRET, "HS256")

    assert "not valid yet" in rejection(HS256, token)


def test_verify_rejects_token_without_exp() -> None:
    token = sign({"sub": "alice"}, SECRET, "HS256")

    assert "'exp' claim" in rejection(HS256, token)


def test_verify_rejects_wrong_secret() -> None:
    token = sign(claims(), "another-secret-that-is-long-enough-too", "HS256")

    assert rejection(HS256, token) == "the bearer token's signature is invalid"


def test_verify_rejects_alg_none() -> None:
    assert "unsigned" in rejection(HS256, unsigned(claims()))


def test_verify_checks_audience_and_issuer() -> None:
    settings = replace(HS256, audience="blobstore", issuer="https://id.example")
    good = sign(claims(aud="blobstore", iss="https://id.example"), SECRET, "HS256")
    wrong_audience = sign(claims(aud="other", iss="https://id.example"), SECRET, "HS256")
    wrong_issuer = sign(claims(aud="blobstore", iss="https://evil.example"), SECRET, "HS256")

    assert identify(settings, good).user_id == "alice"
    assert "audience 'blobstore'" in rejection(settings, wrong_audience)
    assert "issued by 'https://id.example'" in rejection(settings, wrong_issuer)


def test_verify_without_token_requires_authentication() -> None:
    with pytest.raises(AuthenticationRequired):
        identify(HS256, None)


def test_verify_rejects_algorithm_not_configured() -> None:
    token = sign(claims(), SECRET + SECRET, "HS512")

    assert "'HS512' is not allowed (allowed: HS256)" in rejection(HS256, token)


# Verify mode with public keys.


def test_verify_accepts_rs256_token() -> None:
    token = sign(claims("erin"), rsa_private_key(), "RS256")

    assert identify(rs256(), token) == Identity("erin")


def test_hs256_with_rsa_public_key_rejected() -> None:
    # The key-confusion attack: the public key's PEM text used as an HMAC secret.
    token = hmac_signed(claims("mallory"), public_pem(rsa_private_key()).encode())

    assert "'HS256' is not allowed (allowed: RS256)" in rejection(rs256(), token)


def test_rs256_token_from_another_key_is_rejected() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert "signature is invalid" in rejection(rs256(), sign(claims(), other, "RS256"))


def test_verify_accepts_es256_token_from_jwks_by_kid() -> None:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_private_key().public_key()))
    settings = AuthSettings(mode="verify", jwks=json.dumps({"keys": [{**jwk, "kid": "k1"}]}))

    token = sign(claims("frank"), ec_private_key(), "ES256", kid="k1")
    unknown_kid = sign(claims(), ec_private_key(), "ES256", kid="k2")

    assert identify(settings, token) == Identity("frank")
    assert "key id 'k2'" in rejection(settings, unknown_kid)


@pytest.mark.parametrize(
    ("auth", "variable"),
    [
        (AuthSettings(mode="verify", secret="short"), "JWT_SECRET"),
        (AuthSettings(mode="verify", public_key="-----BEGIN junk"), "JWT_PUBLIC_KEY"),
        (
            AuthSettings(mode="verify", jwks='{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'),
            "JWT_JWKS_FILE",
        ),
        (AuthSettings(mode="verify", secret=SECRET, algorithms=("RS256",)), "JWT_ALGORITHMS"),
    ],
    ids=["short-secret", "bad-pem", "oct-in-jwks", "rs256-with-secret"],
)
def test_unusable_key_configuration_raises(auth: AuthSettings, variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Authenticator(auth)

    assert caught.value.variable == variable


def test_verify_mode_needs_exactly_one_key() -> None:
    with pytest.raises(ConfigError, match="exactly one of JWT_SECRET"):
        AuthSettings.from_env({"AUTH_MODE": "verify"})


def test_public_key_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(public_pem(rsa_private_key()))

    settings = AuthSettings.from_env({"AUTH_MODE": "verify", "JWT_PUBLIC_KEY": str(path)})

    assert identify(settings, sign(claims(), rsa_private_key(), "RS256")).user_id == "alice"


def test_unknown_auth_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AUTH_MODE"):
        AuthSettings.from_env({"AUTH_MODE": "trust-me"})


# None mode.


def test_none_mode_ignores_tokens() -> None:
    settings = AuthSettings(mode="none")

    assert identify(settings, "not even a JWT") == Identity("anonymous")


async def test_none_mode_warns_at_start(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_client(replace(settings, auth=AuthSettings(mode="none"))):
        pass

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("AUTH_MODE=none" in message for message in warnings)


def test_serve_stops_on_unusable_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_MODE", "verify")
    monkeypatch.setenv("JWT_SECRET", "too-short")

    code = cli.main(["serve"])

    assert code == 2
    assert "invalid JWT_SECRET" in capsys.readouterr().err


# Through the application.


async def test_verify_mode_upload_without_token_returns_401(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with app_client(replace(settings, auth=HS256)) as client:
        response = await upload(client, b"x")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert response.headers["www-authenticate"] == 'Bearer realm="blobstore"'
    assert (await row_counts(engine))["files"] == 0


async def test_verify_mode_expired_token_returns_401_with_reason(
    settings: Settings, engine: AsyncEngine
) -> None:
    token = sign(claims(lifetime_s=-60 * 60), SECRET, "HS256")

    async with app_client(replace(settings, auth=HS256)) as client:
        response = await upload(client, b"x", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="blobstore", error="invalid_token", '
        'error_description="the bearer token has expired"'
    )
    assert (await row_counts(engine))["files"] == 0


async def test_verify_mode_valid_token_owns_the_upload(
    settings: Settings, engine: AsyncEngine
) -> None:
    token = sign(claims("grace"), SECRET, "HS256")

    async with app_client(replace(settings, auth=HS256)) as client:
        response = await upload(client, b"x", headers=bearer(token))

    assert response.status_code == 201
    assert response.json()["user_id"] == "grace"


async def test_public_read_ignores_a_bad_token(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    created = await upload(client, b"public bytes")

    fetched = await client.get(
        f"/files/{created.json()['key']}", headers={"Authorization": "Bearer garbage"}
    )

    assert fetched.status_code == 200
    assert fetched.content == b"public bytes"


def test_error_description_stays_within_rfc_6750_characters() -> None:
    error = InvalidToken("the bearer token is not a valid JWT: {reason}", reason='bad "x"\\ é')

    header = error.headers["WWW-Authenticate"]

    assert "error_description=\"the bearer token is not a valid JWT: bad 'x'/ ?\"" in header
