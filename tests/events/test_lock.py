"""The single-relay lock: a second holder waits until the first releases or dies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from blobstore.errors import RelayLockLost
from blobstore.events.lock import AdvisoryLock, FileLock, RelayLock


@pytest.fixture(params=["file", "advisory"])
def new_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], RelayLock]:
    """Return a factory of locks that all guard the same relay."""
    if request.param == "file":
        return lambda: FileLock(tmp_path / "blobstore.db.relay-lock")
    url = request.getfixturevalue("migrated_postgres")
    return lambda: AdvisoryLock(url)


async def test_lock_admits_one_holder(new_lock: Callable[[], RelayLock]) -> None:
    first = new_lock()
    second = new_lock()

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


async def test_advisory_lock_lost_with_session(migrated_postgres: URL) -> None:
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
