"""The relay's steps and failure handling, with a fake producer and reconciler on SQLite.

The integration tests prove delivery against a real broker. These pin down the
order of calls that the guarantees rest on: abort on a failed report or commit,
reconcile before publishing again, and mark rows only after a commit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db.models import outbox, relay_offsets
from blobstore.db.repository import insert_outbox
from blobstore.errors import KafkaFailure
from blobstore.events.faults import FaultSwitch
from blobstore.events.messages import EventMessage, RelayedEvent
from blobstore.events.outbox import FILE_STORED, file_event
from blobstore.events.producer import Delivery
from blobstore.events.reconcile import ReadBack
from blobstore.events.relay import Relay

TOPIC = "stored"
GUARD_S = 30.0


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def settings(database_url: URL, tmp_path: Path) -> Settings:
    return Settings(
        file_base_path=tmp_path / "files",
        database_url=database_url,
        kafka_bootstrap="127.0.0.1:9",
        relay_poll_interval_s=0.05,
        relay_retry_max_s=0.05,
    )


class Script:
    """What the fakes do and what they saw, shared by every producer the relay creates."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: dict[str, list[KafkaFailure]] = {}
        self.failed_deliveries: set[int] = set()
        self.produced: list[int] = []
        self.producers = 0
        self.next_offset = 0
        self.reconcile_topics: list[list[str]] = []
        self.found: list[RelayedEvent] = []

    def fail(self, operation: str, *errors: KafkaFailure) -> None:
        self.failures.setdefault(operation, []).extend(errors)

    def call(self, operation: str) -> None:
        self.calls.append(operation)
        pending = self.failures.get(operation)
        if pending:
            raise pending.pop(0)


class FakeProducer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.queued: list[EventMessage] = []
        script.producers += 1

    async def init_transactions(self) -> None:
        self.script.call("init")

    def begin_transaction(self) -> None:
        self.script.call("begin")
        self.queued = []

    def produce(self, message: EventMessage) -> None:
        self.script.call("produce")
        self.queued.append(message)

    async def flush(self) -> list[Delivery]:
        self.script.call("flush")
        deliveries = []
        for message in self.queued:
            failed = message.outbox_id in self.script.failed_deliveries
            self.script.failed_deliveries.discard(message.outbox_id)
            deliveries.append(
                Delivery(
                    outbox_id=message.outbox_id,
                    topic=message.topic,
                    partition=0,
                    offset=self.script.next_offset,
                    error="_MSG_TIMED_OUT: Local: Message timed out" if failed else None,
                )
            )
            self.script.next_offset += 1
        return deliveries

    async def commit_transaction(self) -> None:
        self.script.call("commit")
        self.script.produced.extend(message.outbox_id for message in self.queued)

    async def abort_transaction(self) -> None:
        self.script.call("abort")

    async def close(self) -> None:
        self.script.call("close")


@pytest.fixture
def script() -> Script:
    return Script()


def fake_reconciler(script: Script) -> Callable[..., ReadBack]:
    def reconcile(
        bootstrap: str, topics: list[str], recorded: dict[Any, int], **_options: object
    ) -> ReadBack:
        script.calls.append("reconcile")
        script.reconcile_topics.append(list(topics))
        return ReadBack(events=list(script.found))

    return reconcile


async def add_rows(engine: AsyncEngine, count: int) -> list[tuple[int, uuid.UUID]]:
    now = utc_now()
    async with engine.begin() as conn:
        for _ in range(count):
            message = file_event(
                FILE_STORED,
                topic=TOPIC,
                key=uuid.uuid4(),
                user_id="tester",
                tags=[],
                sha256="0" * 64,
                created_at=now,
                now=now,
            )
            await insert_outbox(conn, message)
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.id, outbox.c.event_id).order_by(outbox.c.id))
        return [(row.id, row.event_id) for row in rows]


async def published_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.id).where(outbox.c.published_at.is_not(None)).order_by(outbox.c.id)
        )
        return list(rows.scalars())


@pytest.fixture
async def run_relay(
    settings: Settings, engine: AsyncEngine, script: Script
) -> AsyncIterator[Callable[[int], Any]]:
    """Return a function that runs the relay until `count` rows are published, then stops it."""

    async def run(count: int) -> None:
        relay = Relay(
            settings,
            engine,
            producer_factory=lambda _settings: FakeProducer(script),
            reconciler=fake_reconciler(script),
            faults=FaultSwitch(),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            async with asyncio.timeout(GUARD_S):
                while len(await published_ids(engine)) < count:
                    await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task

    yield run


async def test_batch_marks_rows_and_records_next_offsets(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    rows = await add_rows(engine, 3)

    await run_relay(3)

    async with engine.connect() as conn:
        offsets = [tuple(row) for row in await conn.execute(select(relay_offsets.c[0:3]))]
    assert script.calls[:8] == [
        "init",
        "reconcile",
        "begin",
        "produce",
        "produce",
        "produce",
        "flush",
        "commit",
    ]
    assert script.produced == [row_id for row_id, _ in rows]
    assert await published_ids(engine) == [row_id for row_id, _ in rows]
    assert offsets == [(TOPIC, 0, 3)]


async def test_failed_delivery_aborts_transaction(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    rows = await add_rows(engine, 2)
    script.failed_deliveries.add(rows[1][0])

    await run_relay(2)

    first_abort = script.calls.index("abort")
    assert script.calls[: first_abort + 1] == [
        "init",
        "reconcile",
        "begin",
        "produce",
        "produce",
        "flush",
        "abort",
    ]
    assert script.calls[first_abort + 1 : first_abort + 4] == ["close", "init", "reconcile"]
    # The rows were still pending when the second session began.
    assert script.reconcile_topics[:2] == [[TOPIC], [TOPIC]]
    assert script.produced == [rows[0][0], rows[1][0]]
    assert script.producers >= 2


async def test_failed_commit_leaves_rows_pending(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    rows = await add_rows(engine, 2)
    script.fail("commit", KafkaFailure("commit_transaction failed: _TIMED_OUT", stage="commit"))

    await run_relay(2)

    assert script.calls.count("commit") == 2
    assert script.calls.count("abort") == 1
    assert script.reconcile_topics[:2] == [[TOPIC], [TOPIC]]
    assert script.produced == [row_id for row_id, _ in rows]


async def test_fatal_error_replaces_the_producer_without_abort(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    await add_rows(engine, 1)
    script.fail(
        "commit",
        KafkaFailure("commit_transaction failed: PRODUCER_FENCED", stage="commit", fatal=True),
    )

    await run_relay(1)

    assert "abort" not in script.calls
    assert script.producers >= 2
    assert script.calls.count("init") >= 2


async def test_rows_found_by_reconcile_are_not_sent_again(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    rows = await add_rows(engine, 3)
    script.found = [
        RelayedEvent(outbox_id=row_id, event_id=event_id) for row_id, event_id in rows[:2]
    ]

    await run_relay(3)

    assert script.produced == [rows[2][0]]
    assert await published_ids(engine) == [row_id for row_id, _ in rows]


async def test_reconcile_ignores_mismatched_event_id(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    rows = await add_rows(engine, 1)
    script.found = [RelayedEvent(outbox_id=rows[0][0], event_id=uuid.uuid4())]

    await run_relay(1)

    assert script.produced == [rows[0][0]]


async def test_late_lower_id_is_published(
    engine: AsyncEngine, script: Script, run_relay: Callable[[int], Any]
) -> None:
    # A transaction that took id 1 but committed after ids 2 and 3 went out.
    rows = await add_rows(engine, 3)
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([rows[1][0], rows[2][0]]))
            .values(published_at=utc_now())
        )

    await run_relay(3)

    assert script.produced == [rows[0][0]]


async def test_repeated_failure_is_logged_once(
    engine: AsyncEngine,
    script: Script,
    run_relay: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_rows(engine, 1)
    timeout = KafkaFailure("init_transactions failed: _TIMED_OUT: Timed out", stage="connect")
    refused = KafkaFailure("init_transactions failed: _TRANSPORT: refused", stage="connect")
    script.fail("init", timeout, timeout, timeout, refused, refused)

    with caplog.at_level(logging.INFO, logger="blobstore.events.relay"):
        await run_relay(1)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "_TIMED_OUT" in warnings[0]
    assert "_TRANSPORT" in warnings[1]
    assert all("Kafka 127.0.0.1:9" in warning for warning in warnings)
    assert "relay recovered after 5 failed attempts" in caplog.text
