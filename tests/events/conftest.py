"""Fixtures for the relay tests: the broker, fresh topics, relay settings and relay processes.

Kafka tests run against the broker that scripts/test starts (KAFKA_BOOTSTRAP)
and default to PostgreSQL; a test that wants SQLite parametrizes `backend`.
Every test gets its own topics and transactional.id, so no test reads another's
messages or fences another's producer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from blobstore.db.models import outbox
from tests.events.kafka import create_topics, unique_name

# Guards against a hung test, far above what any step needs; not a speed check.
DRAIN_TIMEOUT_S = 180.0

CRASH_SUMMARIES = pytest.StashKey[list[tuple[str, Path, dict[str, object]]]]()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    address = os.environ.get("KAFKA_BOOTSTRAP")
    if not address:
        pytest.skip("KAFKA_BOOTSTRAP names no broker; run the suite with scripts/test")
    return address


@pytest.fixture
def backend() -> str:
    return "postgresql"


@dataclass(frozen=True)
class Topics:
    stored: str
    deleted: str


@pytest.fixture
def topics(kafka_bootstrap: str) -> Topics:
    names = Topics(stored=unique_name("stored"), deleted=unique_name("deleted"))
    create_topics(kafka_bootstrap, names.stored, names.deleted)
    return names


@pytest.fixture
def settings(settings: Settings, kafka_bootstrap: str, topics: Topics) -> Settings:
    return replace(
        settings,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=topics.stored,
        kafka_deleted_topic=topics.deleted,
        kafka_transactional_id=unique_name("test-relay"),
        relay_batch_size=50,
        relay_poll_interval_s=0.2,
        relay_retry_max_s=2.0,
    )


async def pending_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count: int = (
            await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        ).scalar_one()
    return count


async def wait_until_drained(engine: AsyncEngine, guard_s: float = DRAIN_TIMEOUT_S) -> None:
    """Wait until no outbox row is pending; fail after `guard_s` seconds."""
    async with asyncio.timeout(guard_s):
        # Polls, because the state lives in the database and another process changes it.
        while await pending_count(engine):
            await asyncio.sleep(0.2)


def relay_environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "BLOBSTORE_RELAY_FAULT" and not key.startswith("RELAY_")
    }
    env.update(
        DATABASE_URL=settings.database_url.render_as_string(hide_password=False),
        FILE_BASE_PATH=str(settings.file_base_path),
        KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        KAFKA_TOPIC=settings.kafka_topic,
        KAFKA_DELETED_TOPIC=settings.kafka_deleted_topic,
        KAFKA_TRANSACTIONAL_ID=settings.kafka_transactional_id,
        RELAY_BATCH_SIZE=str(settings.relay_batch_size),
        RELAY_POLL_INTERVAL_S=str(settings.relay_poll_interval_s),
        RELAY_RETRY_MAX_S=str(settings.relay_retry_max_s),
    )
    env.update(extra)
    return env


class RelayProcesses:
    """Starts `python -m blobstore relay` processes, each logging to its own file."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[asyncio.subprocess.Process] = []

    async def start(
        self, env: dict[str, str], name: str
    ) -> tuple[asyncio.subprocess.Process, Path]:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "blobstore",
                "relay",
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.started.append(process)
        return process, log_path

    def kill_all(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)


@pytest.fixture
async def relay_processes(tmp_path: Path) -> AsyncIterator[RelayProcesses]:
    processes = RelayProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()
        for process in processes.started:
            await process.wait()


async def wait_for_line(log_path: Path, text: str, guard_s: float = 60.0) -> None:
    """Wait until a relay log file contains `text`; fail after `guard_s` seconds."""
    async with asyncio.timeout(guard_s):
        # Polls, because another process writes the file.
        while text not in await asyncio.to_thread(log_path.read_text, errors="replace"):
            await asyncio.sleep(0.1)


@pytest.fixture
def crash_summary(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, object]]:
    """A dict the test fills with its counts; written to JSON and shown after the run."""
    summary: dict[str, object] = {}
    yield summary
    if summary:
        path = tmp_path / "crash-summary.json"
        path.write_text(json.dumps(summary, indent=2))
        request.node.user_properties.append(("crash_summary", json.dumps(summary)))
        request.config.stash.setdefault(CRASH_SUMMARIES, []).append(
            (request.node.nodeid, path, summary)
        )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    summaries = config.stash.get(CRASH_SUMMARIES, [])
    if not summaries:
        return
    terminalreporter.section("relay delivery counts")
    for nodeid, path, summary in summaries:
        terminalreporter.write_line(f"{nodeid}: {json.dumps(summary)}")
        terminalreporter.write_line(f"  written to {path}")
