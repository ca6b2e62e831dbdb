"""Uploads over MAX_UPLOAD_MB and malformed bodies leave nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from blobstore.api import create_app
from blobstore.config import ConfigError, Settings
from tests.helpers import assert_nothing_stored as assert_nothing_left

LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_upload_bytes=LIMIT)


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def assert_nothing_stored(engine: AsyncEngine, settings: Settings) -> None:
    await assert_nothing_left(engine, settings.file_base_path)


async def test_declared_length_over_limit_returns_413(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    response = await client.post(
        "/files", content=b"x" * (LIMIT + 1), headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert "MAX_UPLOAD_MB=0.0625" in response.json()["detail"]
    await assert_nothing_stored(engine, settings)


async def test_streamed_body_over_limit_returns_413(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 16 * 1024

    # A generator body is sent chunked, with no Content-Length to check up front.
    response = await client.post("/files", content=body(), headers={"Content-Type": "text/plain"})

    assert response.status_code == 413
    assert "received more than 65536 bytes" in response.json()["detail"]
    await assert_nothing_stored(engine, settings)


async def test_multipart_file_over_limit_returns_413(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    response = await client.post("/files", files={"file": ("big.bin", b"z" * (LIMIT + 1))})

    assert response.status_code == 413
    await assert_nothing_stored(engine, settings)


async def test_file_exactly_at_limit_is_stored(client: httpx.AsyncClient) -> None:
    response = await client.post("/files", files={"file": ("edge.bin", b"e" * LIMIT)})

    assert response.status_code == 201
    assert response.json()["size"] == LIMIT


BOUNDARY = "testboundary"
PART = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
    "hello\r\n"
)
TAGS_PART = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nx\r\n'


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (PART + f"--{BOUNDARY}--\r\n", "multipart/form-data", "without a boundary"),
        (PART, f"multipart/form-data; boundary={BOUNDARY}", "before its closing boundary"),
        (
            TAGS_PART + f"--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "no 'file'",
        ),
        (
            PART + PART + f"--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "more than one 'file'",
        ),
        (
            f"--{BOUNDARY}\r\nX-Long: {'h' * 20_000}\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "header",
        ),
        (
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "lacks 'Content-Disposition",
        ),
        ("garbage", f"multipart/form-data; boundary={BOUNDARY}", "invalid multipart body"),
        ("", f"multipart/form-data; boundary={BOUNDARY}", "before its closing boundary"),
        (f"--{BOUNDARY}--\r\n", f"multipart/form-data; boundary={BOUNDARY}", "no 'file'"),
        (
            PART.replace(BOUNDARY, "otherboundary") + "--otherboundary--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "invalid multipart body",
        ),
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; filename="a"\r\n\r\n'
            f"x\r\n--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "lacks 'Content-Disposition",
        ),
        (
            f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "invalid multipart body",
        ),
        (
            TAGS_PART * 101 + PART + f"--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "more than 100 parts",
        ),
        (
            TAGS_PART.replace("\r\nx\r\n", "\r\n" + "t" * 70_000 + "\r\n")
            + PART
            + f"--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "field 'tags' exceeds 65536 bytes",
        ),
        (
            PART[:-2] + f"--{BOUNDARY}--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "before its closing boundary",
        ),
    ],
    ids=[
        "no-boundary",
        "unterminated",
        "no-file-field",
        "two-file-fields",
        "oversized-headers",
        "no-disposition",
        "garbage",
        "empty-body",
        "closing-boundary-only",
        "other-boundary",
        "no-name",
        "header-without-colon",
        "too-many-parts",
        "oversized-field",
        "file-data-runs-into-closing-boundary",
    ],
)
async def test_malformed_multipart_returns_400(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
    body: str,
    content_type: str,
    message: str,
) -> None:
    response = await client.post("/files", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_upload"
    assert message in response.json()["detail"]
    await assert_nothing_stored(engine, settings)


async def test_tags_field_not_utf8_returns_400(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\n'.encode()
        + b"\xff\xfe\r\n"
        + (PART + f"--{BOUNDARY}--\r\n").encode()
    )

    response = await client.post(
        "/files",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "multipart field 'tags' is not valid UTF-8"
    await assert_nothing_stored(engine, settings)


async def test_non_numeric_content_length_returns_400(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    # httpx would compute the header itself; a raw ASGI scope sends the lie as is.
    response = await client.post(
        "/files", content=b"abc", headers={"Content-Type": "text/plain", "Content-Length": "3x"}
    )

    assert response.status_code == 400
    assert "invalid Content-Length '3x'" in response.json()["detail"]
    await assert_nothing_stored(engine, settings)


def test_idle_timeout_setting_must_be_positive() -> None:
    assert Settings.from_env({"UPLOAD_IDLE_TIMEOUT_S": "2.5"}).upload_idle_timeout_s == 2.5
    with pytest.raises(ConfigError, match="UPLOAD_IDLE_TIMEOUT_S"):
        Settings.from_env({"UPLOAD_IDLE_TIMEOUT_S": "0"})
