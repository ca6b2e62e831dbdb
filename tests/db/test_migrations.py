"""The migrations upgrade, downgrade and upgrade again, and match the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db import migrate
from blobstore.db.engine import create_engine
from blobstore.db.models import metadata


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def test_upgrade_downgrade_upgrade(database_url: URL) -> None:
    engine = create_engine(database_url)
    try:
        # Alembic's env.py runs its own event loop, so it cannot run on this one.
        await asyncio.to_thread(migrate.downgrade, database_url, "base")
        after_downgrade = await table_names(engine)
        await asyncio.to_thread(migrate.upgrade, database_url)
        after_upgrade = await table_names(engine)
    finally:
        await engine.dispose()

    assert after_downgrade <= {"alembic_version"}
    assert {"blobs", "files", "file_tags", "outbox", "relay_offsets"} <= after_upgrade


async def test_models_match_migrations(database_url: URL) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()

    assert differences == []
