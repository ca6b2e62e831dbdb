"""The lookup queries use indexes on a PostgreSQL table of realistic size.

The plans are read with EXPLAIN after ANALYZE, so PostgreSQL chooses them from
real statistics. Timings belong in bench/, not here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import ClauseElement, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from blobstore.db.engine import create_engine
from blobstore.db.lookup import (
    FileFilter,
    PagePosition,
    find_referenced_blob_query,
    list_files_query,
)

pytestmark = pytest.mark.postgres

ROWS = 60_000
USERS = 100


def population_sql(rows: int, users: int) -> list[str]:
    """Return statements that fill blobs, files and file_tags with synthetic rows, then ANALYZE.

    File i belongs to user-(i % users), is one minute newer than file i - 1,
    and carries tag-(i % 200) and kind-(i % 7). bench/lookup.py uses the same data.
    """
    return [
        f"""
        INSERT INTO blobs (sha256, blake3, size, created_at)
        SELECT md5(i::text) || md5((i + 1)::text), md5(i::text) || md5(i::text), i % 10000,
               timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'
        FROM generate_series(1, {rows}) AS i
        """,
        f"""
        INSERT INTO files (key, sha256, user_id, filename, content_type, size, created_at)
        SELECT md5('file' || i)::uuid, md5(i::text) || md5((i + 1)::text),
               'user-' || (i % {users}), 'file-' || i || '.pdf', 'application/pdf', i % 10000,
               timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'
        FROM generate_series(1, {rows}) AS i
        """,
        f"""
        INSERT INTO file_tags (file_key, tag)
        SELECT md5('file' || i)::uuid, 'tag-' || (i % 200) FROM generate_series(1, {rows}) AS i
        UNION ALL
        SELECT md5('file' || i)::uuid, 'kind-' || (i % 7) FROM generate_series(1, {rows}) AS i
        """,
        "ANALYZE blobs, files, file_tags",
    ]


USER = "user-42"
# File 4242 belongs to user-42 (4242 % 100) and carries tag-42 (4242 % 200).
SHA256_OF_4242 = "SELECT md5('4242') || md5('4243')"
MIDDLE = PagePosition(datetime(2026, 1, 20, tzinfo=UTC), uuid.UUID(int=0))


TRUNCATE = "TRUNCATE blobs, files, file_tags, outbox RESTART IDENTITY CASCADE"


@pytest.fixture(scope="module")
async def populated(migrated_postgres: URL) -> AsyncIterator[AsyncEngine]:
    # Filled once for the module: the inserts take seconds, the plans milliseconds.
    engine = create_engine(migrated_postgres)
    async with engine.begin() as conn:
        await conn.execute(text(TRUNCATE))
        for statement in population_sql(ROWS, USERS):
            await conn.execute(text(statement))
    yield engine

    async with engine.begin() as conn:
        await conn.execute(text(TRUNCATE))
    await engine.dispose()


@pytest.fixture
async def conn(populated: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with populated.connect() as conn:
        yield conn


async def plan_of(conn: AsyncConnection, query: ClauseElement) -> str:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    rows = await conn.execute(text(f"EXPLAIN {compiled}"))
    return "\n".join(rows.scalars())


def assert_uses_indexes(plan: str) -> None:
    assert "Index" in plan, plan
    assert "Seq Scan on files" not in plan, plan
    assert "Seq Scan on file_tags" not in plan, plan
    assert "Seq Scan on blobs" not in plan, plan


async def test_owner_listing_first_page_walks_owner_index(conn: AsyncConnection) -> None:
    plan = await plan_of(conn, list_files_query(FileFilter(user_id=USER), None, 51))

    assert_uses_indexes(plan)
    assert "ix_files_user_id_created_at_key" in plan, plan
    assert "Sort" not in plan, plan


async def test_owner_listing_later_page_starts_at_cursor(conn: AsyncConnection) -> None:
    plan = await plan_of(conn, list_files_query(FileFilter(user_id=USER), MIDDLE, 51))

    assert_uses_indexes(plan)
    assert "ix_files_user_id_created_at_key" in plan, plan
    assert "Sort" not in plan, plan


async def test_hash_listing_uses_hash_index(conn: AsyncConnection) -> None:
    digest = (await conn.execute(text(SHA256_OF_4242))).scalar_one()

    plan = await plan_of(conn, list_files_query(FileFilter(user_id=USER, sha256=digest), None, 51))

    assert_uses_indexes(plan)
    assert "ix_files_sha256_user_id" in plan, plan


@pytest.mark.parametrize("owner", [USER, None], ids=["owner", "admin"])
async def test_blob_lookup_uses_hash_index(conn: AsyncConnection, owner: str | None) -> None:
    digest = (await conn.execute(text(SHA256_OF_4242))).scalar_one()

    plan = await plan_of(conn, find_referenced_blob_query(digest, owner))

    assert_uses_indexes(plan)
    assert "ix_files_sha256_user_id" in plan, plan


@pytest.mark.parametrize("tags", [("tag-42",), ("tag-42", "kind-0")], ids=["one", "two"])
async def test_tag_listing_uses_indexes(conn: AsyncConnection, tags: tuple[str, ...]) -> None:
    for position in (None, MIDDLE):
        query = list_files_query(FileFilter(user_id=USER, tags=tags), position, 51)

        plan = await plan_of(conn, query)

        assert_uses_indexes(plan)


async def test_tag_listing_across_owners_uses_tag_index(conn: AsyncConnection) -> None:
    plan = await plan_of(conn, list_files_query(FileFilter(tags=("tag-42",)), None, 51))

    assert_uses_indexes(plan)
