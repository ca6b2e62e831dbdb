"""Small helpers that the API and server tests share."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db.models import blobs, file_tags, files, outbox

TABLES = {"blobs": blobs, "files": files, "file_tags": file_tags, "outbox": outbox}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
