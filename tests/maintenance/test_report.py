"""The reporting views on both databases, and `blobstore report` in each format."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.cli import main
from blobstore.db import migrate
from blobstore.db.engine import create_engine
from blobstore.db.models import files, outbox
from blobstore.maintenance.report import REPORTS, fetch
from blobstore.service import FileService
from tests.maintenance.conftest import ADMIN, BytesBody

DAY_ONE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY_TWO = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


async def upload(
    service: FileService, data: bytes, owner: str, content_type: str, tags: list[str]
) -> None:
    body = BytesBody(data, tags=tags)
    body.content_type = content_type
    await service.upload(body, owner, "/files/")


@pytest.fixture
async def sample(service: FileService, engine: AsyncEngine) -> None:
    """Four files over two days, one blob shared three ways, one blob left unreferenced."""
    await upload(service, b"aaaa", "alice", "text/plain", [])
    await upload(service, b"aaaa", "alice", "text/plain; charset=utf-8", ["x"])
    await upload(service, b"bbbbbb", "alice", "image/png", ["x"])
    await upload(service, b"aaaa", "bob", "text/plain", ["x", "y"])
    await upload(service, b"zz", "carol", "text/plain", [])

    async with engine.begin() as conn:
        await conn.execute(update(files).values(created_at=DAY_ONE))
        await conn.execute(update(files).where(files.c.user_id == "bob").values(created_at=DAY_TWO))
        await conn.execute(update(outbox).where(outbox.c.id == 1).values(published_at=PUBLISHED_AT))
    carol_key = (await service_keys(engine, "carol"))[0]
    await service.delete(carol_key, ADMIN)


async def service_keys(engine: AsyncEngine, owner: str) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        result = await conn.execute(files.select().where(files.c.user_id == owner))
        return [row.key for row in result]


async def rows_of(engine: AsyncEngine, name: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        table = await fetch(conn, REPORTS[name])
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


async def test_storage_per_user_counts_unique_bytes_per_owner(
    engine: AsyncEngine, sample: None
) -> None:
    rows = await rows_of(engine, "storage_per_user")

    assert rows == [
        {"user_id": "alice", "files": 3, "logical_bytes": 14, "unique_bytes": 10},
        {"user_id": "bob", "files": 1, "logical_bytes": 4, "unique_bytes": 4},
    ]


async def test_dedup_ratio_covers_all_files_and_garbage(engine: AsyncEngine, sample: None) -> None:
    rows = await rows_of(engine, "dedup_ratio")

    assert rows == [
        {
            "files": 4,
            "logical_bytes": 18,
            "blobs": 2,
            "stored_bytes": 10,
            "saved_bytes": 8,
            "dedup_ratio": 1.8,
            "unreferenced_blobs": 1,
            "unreferenced_bytes": 2,
        }
    ]


async def test_dedup_ratio_of_empty_store_has_no_ratio(engine: AsyncEngine) -> None:
    rows = await rows_of(engine, "dedup_ratio")

    assert rows[0]["files"] == 0
    assert rows[0]["dedup_ratio"] is None


async def test_dedup_by_content_type_groups_the_stored_type(
    engine: AsyncEngine, sample: None
) -> None:
    rows = await rows_of(engine, "dedup_by_content_type")

    assert rows == [
        {
            "content_type": "text/plain",
            "files": 2,
            "logical_bytes": 8,
            "unique_blobs": 1,
            "unique_bytes": 4,
            "dedup_ratio": 2,
        },
        {
            "content_type": "image/png",
            "files": 1,
            "logical_bytes": 6,
            "unique_blobs": 1,
            "unique_bytes": 6,
            "dedup_ratio": 1,
        },
        {
            "content_type": "text/plain; charset=utf-8",
            "files": 1,
            "logical_bytes": 4,
            "unique_blobs": 1,
            "unique_bytes": 4,
            "dedup_ratio": 1,
        },
    ]


async def test_tag_usage_counts_files_and_owners(engine: AsyncEngine, sample: None) -> None:
    rows = await rows_of(engine, "tag_usage")

    assert rows == [
        {
            "tag": "x",
            "files": 3,
            "users": 2,
            "logical_bytes": 14,
            "newest_file_at": "2026-03-02T23:59:59.000000Z",
        },
        {
            "tag": "y",
            "files": 1,
            "users": 1,
            "logical_bytes": 4,
            "newest_file_at": "2026-03-02T23:59:59.000000Z",
        },
    ]


async def test_uploads_per_day_uses_utc_days(engine: AsyncEngine, sample: None) -> None:
    rows = await rows_of(engine, "uploads_per_day")

    assert rows == [
        {"day": "2026-03-02", "files": 1, "users": 1, "logical_bytes": 4},
        {"day": "2026-03-01", "files": 3, "users": 1, "logical_bytes": 14},
    ]


async def test_outbox_backlog_counts_pending_per_topic(engine: AsyncEngine, sample: None) -> None:
    rows = await rows_of(engine, "outbox_backlog")

    assert [
        (row["topic"], row["event_type"], row["pending"], row["published"]) for row in rows
    ] == [
        ("file_stored", "file_stored", 4, 1),
        ("file_deleted", "file_deleted", 1, 0),
    ]
    assert rows[0]["last_published_at"] == "2026-03-03T08:00:00.000000Z"
    assert rows[1]["last_published_at"] is None
    assert str(rows[0]["oldest_pending_at"]).endswith("Z")


async def view_names(url: URL) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: set(inspect(sync).get_view_names()))
    finally:
        await engine.dispose()


async def test_downgrade_drops_the_views(database_url: URL) -> None:
    # Alembic's env.py runs its own event loop, so it cannot run on this one.
    await asyncio.to_thread(migrate.downgrade, database_url, "0002")
    after_downgrade = await view_names(database_url)
    await asyncio.to_thread(migrate.upgrade, database_url)
    after_upgrade = await view_names(database_url)

    assert not any(name.startswith("report_") for name in after_downgrade)
    assert {report.view for report in REPORTS.values()} <= after_upgrade


async def test_report_command_prints_json_csv_and_table(
    sample: None, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command runs its own event loop, so it gets a thread of its own.
    json_status = await asyncio.to_thread(main, ["report", "storage_per_user", "--format", "json"])
    as_json = json.loads(capsys.readouterr().out)
    await asyncio.to_thread(main, ["report", "tag_usage", "--format", "csv"])
    as_csv = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    await asyncio.to_thread(main, ["report"])
    as_table = capsys.readouterr().out

    assert json_status == 0
    assert as_json[0] == {"user_id": "alice", "files": 3, "logical_bytes": 14, "unique_bytes": 10}
    assert as_csv[0] == ["tag", "files", "users", "logical_bytes", "newest_file_at"]
    assert as_csv[1] == ["x", "3", "2", "14", "2026-03-02T23:59:59.000000Z"]
    for name in REPORTS:
        assert f"{name}: " in as_table
    table_lines = as_table.splitlines()
    header = table_lines.index("user_id  files  logical_bytes  unique_bytes")
    assert table_lines[header + 1] == "-------  -----  -------------  ------------"
    # Numbers are right-aligned under their column names.
    assert table_lines[header + 2] == "alice        3             14            10"


async def test_report_command_json_without_name_keys_by_report(
    engine: AsyncEngine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["report", "--format", "json"])

    assert status == 0
    assert set(json.loads(capsys.readouterr().out)) == set(REPORTS)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_report_command_csv_needs_a_name(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["report", "--format", "csv"])

    assert status == 2
    assert "name one of storage_per_user" in capsys.readouterr().err
