"""Shared fixtures: settings, databases on both backends, and an app client.

PostgreSQL tests use the server that scripts/test starts (DATABASE_URL); the
schema is migrated once per session and every test starts from empty tables.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from blobstore.api import create_app
from blobstore.config import Settings
from blobstore.db import migrate
from blobstore.db.engine import create_engine
from blobstore.logs import configure_logging

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> URL | None:
    raw = os.environ.get("DATABASE_URL")
    if not raw or not raw.startswith("postgres"):
        return None
    return Settings.from_env({"DATABASE_URL": raw}).database_url


@pytest.fixture(scope="session")
def migrated_postgres() -> URL:
    url = postgres_url()
    if url is None:
        pytest.skip("DATABASE_URL names no PostgreSQL server; run the suite with scripts/test")
    migrate.upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> URL:
    if backend == "sqlite":
        url = make_url(f"sqlite+aiosqlite:///{tmp_path / 'blobstore.db'}")
        migrate.upgrade(url)
        return url

    url = request.getfixturevalue("migrated_postgres")
    assert isinstance(url, URL)
    return url


@pytest.fixture
async def engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    if database_url.get_backend_name() == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE blobs, files, file_tags, outbox, relay_offsets"
                    " RESTART IDENTITY CASCADE"
                )
            )
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: URL, tmp_path: Path) -> Settings:
    base = Settings.from_env({"FILE_BASE_PATH": str(tmp_path / "files")})
    return replace(base, database_url=database_url)


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Send log records through the JSON formatter into a buffer; yields a reader of its lines."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging(Settings.from_env({"LOG_FORMAT": "json"}), stream=buffer)

    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]

    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
