"""Fixtures for the maintenance commands: the store they run on and a way to fill it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db.models import blobs
from blobstore.maintenance.runtime import Store
from blobstore.service import FileService, StoredFile
from blobstore.service.access import Identity
from blobstore.storage import LocalStorage

# Deletes in these tests act as an admin, so they work on any owner's files.
ADMIN = Identity("operator", is_admin=True)


class BytesBody:
    """An upload body held in memory, for tests that upload without HTTP."""

    def __init__(self, data: bytes, filename: str = "file.bin", tags: list[str] | None = None):
        self.data = data
        self.filename: str | None = filename
        self.content_type: str | None = None
        self.tags = tags or []
        self.expected_sha256: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    storage = LocalStorage(settings.file_base_path)
    storage.ensure_ready()
    return storage


@pytest.fixture
def store(settings: Settings, engine: AsyncEngine, storage: LocalStorage) -> Store:
    return Store(settings, engine, storage)


@pytest.fixture
def service(settings: Settings, engine: AsyncEngine, storage: LocalStorage) -> FileService:
    return FileService(settings, storage, engine)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point `blobstore` commands run in this process at the test's store."""
    url = settings.database_url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FILE_BASE_PATH", str(settings.file_base_path))
    yield


async def store_bytes(service: FileService, data: bytes, owner: str = "alice") -> StoredFile:
    return await service.upload(BytesBody(data), owner, "/files/")


async def age_blob(engine: AsyncEngine, sha256: str, age: timedelta) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(blobs).where(blobs.c.sha256 == sha256).values(created_at=utc_now() - age)
        )


def age_file(path: Path, age: timedelta) -> None:
    moment = (utc_now() - age).timestamp()
    os.utime(path, (moment, moment))
