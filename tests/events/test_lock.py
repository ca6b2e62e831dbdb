"""The single-relay lock: a second holder waits until the first releases or dies."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from blobstore.errors import RelayLockLost
from blobstore.events.lock import AdvisoryLock, FileLock


async def test_file_lock_admits_one_holder(tmp_path: Path) -> None:
    first = FileLock(tmp_path / "blobstore.db.relay-lock")
    second = FileLock(tmp_path / "blobstore.db.relay-lock")

    first_taken = await first.try_acquire()
    second_while_held = await second.try_acquire()
    await first.release()
    second_after_release = await second.try_acquire()
    await second.release()

    assert first_taken is True
    assert second_while_held is False
    assert second_after_release is True


async def test_advisory_lock_admits_one_holder(migrated_postgres: URL) -> None:
    first = AdvisoryLock(migrated_postgres)
    second = AdvisoryLock(migrated_postgres)

    try:
        first_taken = await first.try_acquire()
        second_while_held = await second.try_acquire()
        await first.release()
        second_after_release = await second.try_acquire()
    finally:
        await first.release()
        await second.release()

    assert first_taken is True
    assert second_while_held is False
    assert second_after_release is True


async def test_advisory_lock_check_fails_after_its_session_ends(migrated_postgres: URL) -> None:
    lock = AdvisoryLock(migrated_postgres)
    await lock.try_acquire()
    admin = await asyncpg.connect(
        migrated_postgres.set(drivername="postgresql").render_as_string(hide_password=False)
    )

    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
        )
        with pytest.raises(RelayLockLost):
            await lock.check()
    finally:
        await admin.close()
        await lock.release()

    assert lock.held is False
