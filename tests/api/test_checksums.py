"""Client-supplied checksums on upload: Content-Digest and the sha256 form field."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.api.digests import digest_field, parse_sha256
from blobstore.config import Settings
from blobstore.errors import InvalidRequest
from tests.helpers import assert_nothing_stored, sha256

DATA = b"checked content"
WRONG = "0" * 64


def content_digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def multipart(*parts: tuple[str, bytes], filename: str = "a.bin") -> bytes:
    """A multipart body with its parts in the given order; the part named file gets a filename."""
    body = b""
    for name, value in parts:
        extra = f'; filename="{filename}"' if name == "file" else ""
        body += f'--b\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode()
        body += value + b"\r\n"
    return body + b"--b--\r\n"


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


async def test_raw_upload_with_matching_content_digest_is_stored(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/files",
        content=DATA,
        headers={"Content-Type": "text/plain", "Content-Digest": content_digest(DATA)},
    )

    assert response.status_code == 201
    assert response.json()["sha256"] == sha256(DATA)


async def test_raw_upload_with_wrong_content_digest_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    response = await client.post(
        "/files",
        content=DATA,
        headers={"Content-Type": "text/plain", "Content-Digest": content_digest(b"other")},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "digest_mismatch"
    assert response.json()["detail"] == (
        f"sha256 mismatch: expected {sha256(b'other')}, computed {sha256(DATA)}"
    )
    await assert_nothing_stored(engine, settings.file_base_path)


@pytest.mark.parametrize("order", ["field-first", "field-last"])
async def test_sha256_field_before_or_after_file_is_checked(
    client: httpx.AsyncClient, order: str
) -> None:
    parts = [("sha256", sha256(DATA).upper().encode()), ("file", DATA)]
    body = multipart(*(parts if order == "field-first" else parts[::-1]))

    response = await client.post("/files", content=body, headers=MULTIPART)

    assert response.status_code == 201
    assert response.json()["sha256"] == sha256(DATA)


@pytest.mark.parametrize("order", ["field-first", "field-last"])
async def test_sha256_field_mismatch_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, order: str
) -> None:
    parts = [("sha256", WRONG.encode()), ("file", DATA)]
    body = multipart(*(parts if order == "field-first" else parts[::-1]))

    response = await client.post("/files", content=body, headers=MULTIPART)

    assert response.status_code == 400
    assert response.json()["code"] == "digest_mismatch"
    assert f"expected {WRONG}, computed {sha256(DATA)}" in response.json()["detail"]
    await assert_nothing_stored(engine, settings.file_base_path)


async def test_deduplicated_upload_with_wrong_digest_keeps_existing_blob(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/files", files={"file": ("a", DATA)})

    second = await client.post(
        "/files", content=multipart(("file", DATA), ("sha256", WRONG.encode())), headers=MULTIPART
    )
    fetched = await client.get(f"/files/{first.json()['key']}")

    assert second.status_code == 400
    assert fetched.content == DATA


async def test_multipart_content_digest_covers_the_whole_body(client: httpx.AsyncClient) -> None:
    body = multipart(("file", DATA))

    response = await client.post(
        "/files", content=body, headers={**MULTIPART, "Content-Digest": content_digest(body)}
    )

    assert response.status_code == 201


async def test_multipart_content_digest_mismatch_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    body = multipart(("file", DATA))

    response = await client.post(
        "/files", content=body, headers={**MULTIPART, "Content-Digest": content_digest(DATA)}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "digest_mismatch"
    assert response.json()["detail"].startswith("Content-Digest mismatch: expected sha-256=:")
    await assert_nothing_stored(engine, settings.file_base_path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("sha-256=abc", "invalid Content-Digest header"),
        ("sha-256=:bm90IDMyIGJ5dGVz:", "invalid Content-Digest header"),
        ("sha-256=:!!!:", "invalid Content-Digest header"),
        ("garbage", "invalid Content-Digest header"),
        ("sha-512=:" + "A" * 86 + "==:", "has no sha-256 digest (found: sha-512)"),
    ],
    ids=["not-a-byte-sequence", "wrong-length", "bad-base64", "no-equals", "other-algorithm"],
)
async def test_malformed_content_digest_returns_400(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, header: str, message: str
) -> None:
    response = await client.post(
        "/files", content=DATA, headers={"Content-Type": "text/plain", "Content-Digest": header}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert message in response.json()["detail"]
    await assert_nothing_stored(engine, settings.file_base_path)


@pytest.mark.parametrize(
    ("parts", "code", "message"),
    [
        ([("sha256", b"xyz"), ("file", DATA)], "invalid_request", "expected 64 hexadecimal"),
        (
            [("sha256", WRONG.encode()), ("sha256", WRONG.encode()), ("file", DATA)],
            "malformed_upload",
            "more than one 'sha256' field",
        ),
    ],
    ids=["not-hex", "twice"],
)
async def test_bad_sha256_field_returns_400(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
    parts: list[tuple[str, bytes]],
    code: str,
    message: str,
) -> None:
    response = await client.post("/files", content=multipart(*parts), headers=MULTIPART)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert message in response.json()["detail"]
    await assert_nothing_stored(engine, settings.file_base_path)


def test_digest_field_round_trips() -> None:
    field = digest_field(sha256(DATA))

    assert parse_sha256(f"sha-512=:AAAA:, {field}") == hashlib.sha256(DATA).digest()


def test_digest_field_accepts_parameters() -> None:
    assert len(parse_sha256(digest_field(WRONG) + ";note=1")) == 32


def test_parse_sha256_rejects_empty_header() -> None:
    with pytest.raises(InvalidRequest):
        parse_sha256("")
