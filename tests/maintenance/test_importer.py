"""Bulk import of a folder, run twice, through the normal upload path."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.cli import main
from blobstore.config import Settings
from blobstore.db.models import file_tags, files, imported_files
from blobstore.maintenance.importer import Importer
from blobstore.maintenance.runtime import Store
from blobstore.service import FileService
from tests.conftest import FIXTURES
from tests.helpers import blob_files, outbox_rows, row_counts, sha256
from tests.maintenance.conftest import ADMIN


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A folder as an older file service left it: nested, with a duplicate and a link."""
    root = tmp_path / "legacy"
    (root / "2024" / "05").mkdir(parents=True)
    (root / "document.pdf").write_bytes((FIXTURES / "document.pdf").read_bytes())
    (root / "2024" / "gradient.png").write_bytes((FIXTURES / "gradient.png").read_bytes())
    (root / "2024" / "05" / "copy-of-document.pdf").write_bytes(
        (FIXTURES / "document.pdf").read_bytes()
    )
    (root / "2024" / "05" / "notes").write_bytes(b"no extension")
    os.symlink(root / "document.pdf", root / "link.pdf")
    return root


def importer(store: Store, user: str = "alice", tags: list[str] | None = None) -> Importer:
    return Importer(store, user_id=user, tags=tags or [], url_base="/files/")


async def imported_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(imported_files).order_by(imported_files.c.source_path))
        return [dict(row._mapping) for row in result]


async def test_import_twice_stores_each_file_once(
    store: Store, engine: AsyncEngine, settings: Settings, legacy: Path
) -> None:
    first = await importer(store, tags=["Legacy", "migrated"]).run(legacy)
    counts_after_first = await row_counts(engine)
    second = await importer(store, tags=["Legacy", "migrated"]).run(legacy)

    assert (first.files, first.imported, first.duplicates, first.skipped) == (4, 4, 1, 0)
    assert first.failures == []
    pdf_size = (FIXTURES / "document.pdf").stat().st_size
    png_size = (FIXTURES / "gradient.png").stat().st_size
    assert first.bytes_imported == 2 * pdf_size + png_size + len(b"no extension")
    assert (second.files, second.imported, second.duplicates, second.skipped) == (4, 0, 0, 4)
    assert await row_counts(engine) == counts_after_first
    assert counts_after_first["files"] == 4
    assert counts_after_first["blobs"] == 3
    assert counts_after_first["outbox"] == 4
    assert len(blob_files(settings.file_base_path)) == 3


async def test_import_records_owner_tags_types_and_paths(
    store: Store, engine: AsyncEngine, legacy: Path
) -> None:
    await importer(store, user="bob", tags=["Legacy"]).run(legacy)

    async with engine.connect() as conn:
        stored = {
            row.filename: row
            for row in await conn.execute(
                select(files.c.filename, files.c.content_type, files.c.user_id)
            )
        }
        tags = set((await conn.execute(select(file_tags.c.tag))).scalars())
    ledger = await imported_rows(engine)

    assert stored["document.pdf"].content_type == "application/pdf"
    assert stored["gradient.png"].content_type == "image/png"
    assert stored["notes"].content_type == "application/octet-stream"
    assert {row.user_id for row in stored.values()} == {"bob"}
    assert tags == {"legacy"}
    assert [row["source_path"] for row in ledger] == [
        "2024/05/copy-of-document.pdf",
        "2024/05/notes",
        "2024/gradient.png",
        "document.pdf",
    ]
    assert ledger[1]["sha256"] == sha256(b"no extension")
    events = await outbox_rows(engine)
    assert {event["event_type"] for event in events} == {"file_stored"}
    assert {event["payload"]["meta"]["user_id"] for event in events} == {"bob"}


async def test_import_skips_per_user(store: Store, legacy: Path) -> None:
    await importer(store, user="alice").run(legacy)

    for_bob = await importer(store, user="bob").run(legacy)

    assert (for_bob.imported, for_bob.skipped, for_bob.duplicates) == (4, 0, 4)


async def test_import_takes_changed_file_again(store: Store, legacy: Path) -> None:
    await importer(store).run(legacy)
    (legacy / "2024" / "05" / "notes").write_bytes(b"edited since")

    rerun = await importer(store).run(legacy)

    assert (rerun.imported, rerun.skipped) == (1, 3)


async def test_import_keeps_deleted_file_deleted(
    store: Store, service: FileService, engine: AsyncEngine, legacy: Path
) -> None:
    await importer(store).run(legacy)
    ledger = await imported_rows(engine)
    deleted = ledger[0]["file_key"]
    assert isinstance(deleted, uuid.UUID)
    await service.delete(deleted, ADMIN)

    rerun = await importer(store).run(legacy)

    assert (rerun.imported, rerun.skipped) == (0, 4)
    assert (await imported_rows(engine))[0]["file_key"] is None


async def test_import_reports_too_large_file_and_goes_on(
    settings: Settings, engine: AsyncEngine, store: Store, legacy: Path
) -> None:
    small_limit = replace(settings, max_upload_bytes=100)

    summary = await importer(replace(store, settings=small_limit)).run(legacy)

    assert summary.imported == 1
    assert sorted(path.name for path, _ in summary.failures) == [
        "copy-of-document.pdf",
        "document.pdf",
        "gradient.png",
    ]
    assert all("MAX_UPLOAD_MB" in reason for _, reason in summary.failures)
    assert len(await imported_rows(engine)) == 1


async def test_import_command_prints_summary_and_skips_on_rerun(
    store: Store, legacy: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["import", str(legacy), "--user", "carol", "--tag", "Legacy", "--tag", "2024"]

    # The command runs its own event loop, so it gets a thread of its own.
    first_status = await asyncio.to_thread(main, arguments)
    first_output = capsys.readouterr().out
    second_status = await asyncio.to_thread(main, arguments)
    second_output = capsys.readouterr().out

    assert first_status == 0
    assert "import: 4 files found; 4 imported (" in first_output
    assert "of which 1 duplicates of stored content; 0 already imported; 0 failed" in first_output
    assert second_status == 0
    assert "4 files found; 0 imported (0 B)" in second_output
    assert "4 already imported" in second_output


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tag", "bad tag"], "invalid --tag: invalid tag 'bad tag'"),
        (["--user", ""], "invalid --user"),
    ],
)
def test_import_command_rejects_bad_options(
    legacy: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    status = main(["import", str(legacy), *arguments])

    assert status == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_import_command_rejects_missing_folder(
    tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["import", str(tmp_path / "absent")])

    assert status == 2
    assert "not a directory" in capsys.readouterr().err


async def test_import_reports_overlong_path_and_goes_on(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "deep"
    deep = root
    # Directory names of 200 bytes, nested past the ledger's 1536-byte limit.
    for level in range(11):
        deep = deep / (f"{level:02d}" + "d" * 198)
    deep.mkdir(parents=True)
    (deep / "buried.txt").write_bytes(b"too deep")
    (root / "shallow.txt").write_bytes(b"fine")

    summary = await importer(store).run(root)

    assert summary.imported == 1
    assert [path.name for path, _ in summary.failures] == ["buried.txt"]
    assert "longer than 1536 bytes" in summary.failures[0][1]
