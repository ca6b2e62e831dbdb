"""Small helpers that the API and server tests share."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.api import create_app
from blobstore.config import Settings
from blobstore.db.models import blobs, file_tags, files, outbox
from tests.tcp import FreezableProxy

TABLES = {"blobs": blobs, "files": files, "file_tags": file_tags, "outbox": outbox}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum the samples called `name` whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    tags: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/files",
        files={"file": (filename, data, content_type)},
        data={"tags": tags or []},
        headers=headers,
    )


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    counts = {}
    async with engine.connect() as conn:
        for name, table in TABLES.items():
            counts[name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts


async def outbox_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(outbox).order_by(outbox.c.id))
        return [dict(row._mapping) for row in result]


def blob_files(base: Path) -> list[Path]:
    """Every placed blob file under a storage base, temp files excluded."""
    return sorted(p for p in base.glob("??/??/*") if p.is_file())


def temp_files(base: Path) -> list[Path]:
    return sorted((base / "tmp").glob("*"))


@contextlib.asynccontextmanager
async def app_behind_proxy(
    database_url: URL, base_path: Path, health_timeout_s: float
) -> AsyncIterator[tuple[httpx.AsyncClient, FreezableProxy]]:
    """Run the app with its database behind a FreezableProxy; yields a client and the proxy."""
    host, port = database_url.host or "127.0.0.1", database_url.port or 5432
    async with FreezableProxy(host, port) as proxy:
        settings = replace(
            Settings.from_env({"FILE_BASE_PATH": str(base_path)}),
            database_url=database_url.set(host="127.0.0.1", port=proxy.port),
            health_timeout_s=health_timeout_s,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client, proxy
            # Closing the pool at shutdown must not wait on frozen connections.
            proxy.cut()


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app built from `settings` and yield a client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def assert_nothing_stored(engine: AsyncEngine, base: Path) -> None:
    """Check that no row, blob or temp file exists: what a rejected upload must leave."""
    counts = await row_counts(engine)
    assert counts["files"] == 0
    assert counts["blobs"] == 0
    assert counts["outbox"] == 0
    assert blob_files(base) == []
    assert temp_files(base) == []
