"""Uploads over MAX_UPLOAD_MB and malformed bodies leave nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from blobstore.api import create_app
from blobstore.config import Settings
from tests.helpers import blob_files, row_counts, temp_files

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
    counts = await row_counts(engine)
    assert counts["files"] == 0
    assert counts["blobs"] == 0
    assert counts["outbox"] == 0
    assert blob_files(settings.file_base_path) == []
    assert temp_files(settings.file_base_path) == []


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
    ],
    ids=[
        "no-boundary",
        "unterminated",
        "no-file-field",
        "two-file-fields",
        "oversized-headers",
        "no-disposition",
        "garbage",
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
