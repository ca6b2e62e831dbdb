"""The relay against a real Kafka broker and a real database: delivery, order, contract."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from confluent_kafka import Producer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from blobstore.api import create_app
from blobstore.cli import main
from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db import outbox as outbox_db
from blobstore.db.models import relay_offsets
from blobstore.events.faults import FaultSwitch
from blobstore.events.messages import event_message
from blobstore.events.producer import KafkaProducer
from blobstore.events.relay import Relay
from tests.events.conftest import Topics, pending_count, wait_until_drained
from tests.events.kafka import check_delivery, read_committed
from tests.helpers import outbox_rows, upload

UPLOADS = 1000
CONCURRENCY = 8
FOREIGN_EVENT_ID = b"00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def running_relay(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Relay]:
    """A relay task in the test's event loop, stopped at teardown."""
    relay = Relay(settings, engine, faults=FaultSwitch())
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task


async def upload_many(client: httpx.AsyncClient, count: int, delete_every: int = 0) -> list[str]:
    """Upload `count` small files with CONCURRENCY clients; delete every n-th right after."""
    keys: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(count):
        queue.put_nowait(number)

    async def worker() -> None:
        while not queue.empty():
            number = queue.get_nowait()
            response = await upload(client, f"file {number}".encode(), tags=[f"n{number % 7}"])
            assert response.status_code == 201, response.text
            key = response.json()["key"]
            keys.append(key)
            if delete_every and number % delete_every == 0:
                deleted = await client.delete(f"/files/{key}")
                assert deleted.status_code == 204, deleted.text

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return keys


async def test_thousand_uploads_delivered_once_in_order(
    settings: Settings, engine: AsyncEngine, kafka_bootstrap: str, topics: Topics
) -> None:
    # One topic for both event types, so that each deleted key's two events
    # share a partition and their order can be checked.
    settings = replace(settings, kafka_deleted_topic=topics.stored, relay_enabled=True)
    app = create_app(settings)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            keys = await upload_many(client, UPLOADS, delete_every=10)
        await wait_until_drained(engine)

    rows = await outbox_rows(engine)
    messages = read_committed(kafka_bootstrap, [topics.stored])
    check = check_delivery(rows, messages)
    deleted_keys = {row["message_key"] for row in rows if row["event_type"] == "file_deleted"}

    assert len(keys) == UPLOADS
    assert len(rows) == UPLOADS + UPLOADS // 10
    assert check.lost == []
    assert check.duplicated == {}
    assert check.unexpected == []
    assert check.contract_errors == []
    assert check.order_errors == []
    assert len(deleted_keys) == UPLOADS // 10
    assert all(row["published_at"] is not None for row in rows)


async def test_recorded_offsets_follow_last_message(
    settings: Settings,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    running_relay: Relay,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    await upload_many(client, 60, delete_every=4)
    await wait_until_drained(engine)

    messages = read_committed(kafka_bootstrap, [topics.stored, topics.deleted])
    async with engine.connect() as conn:
        recorded = {
            (row.topic, row.partition): row.next_offset
            for row in await conn.execute(select(relay_offsets))
        }
    last_offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        key = (message.topic, message.partition)
        last_offsets[key] = max(last_offsets.get(key, 0), message.offset + 1)

    assert recorded == last_offsets


async def test_reconcile_skips_foreign_messages(
    settings: Settings,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
    topics: Topics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for number in range(5):
        await upload(client, f"committed {number}".encode())
    async with engine.connect() as conn:
        pending = await outbox_db.pending_events(conn, 100)
    # Another producer on the same topic: one message without headers, and
    # one with the relay's header names but an event id that no row has.
    foreign = Producer({"bootstrap.servers": kafka_bootstrap})
    foreign.produce(topics.stored, value=b"{}")
    foreign.produce(
        topics.stored,
        value=b"{}",
        headers=[("outbox_id", str(pending[0].id).encode()), ("event_id", FOREIGN_EVENT_ID)],
    )
    assert foreign.flush(30) == 0
    # Publish and commit the rows as a relay would, then stop before the
    # database update: the rows stay pending although Kafka has them.
    producer = KafkaProducer(settings)
    await producer.init_transactions()
    producer.begin_transaction()
    for event in pending:
        producer.produce(event_message(event))
    await producer.flush()
    await producer.commit_transaction()
    await producer.close()
    await upload(client, b"never published")

    relay = Relay(settings, engine, faults=FaultSwitch())
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="blobstore.events.relay"):
        task = asyncio.create_task(relay.run(stop))
        await wait_until_drained(engine)
        stop.set()
        await task

    rows = await outbox_rows(engine)
    messages = read_committed(kafka_bootstrap, [topics.stored])
    check = check_delivery(rows, messages)
    reconciled = [r.getMessage() for r in caplog.records if "reconciled" in r.getMessage()]

    assert len(rows) == 6
    assert check.lost == []
    assert check.duplicated == {}
    assert check.unexpected == ["", FOREIGN_EVENT_ID.decode()]
    assert check.contract_errors == []
    assert reconciled == [
        f"reconciled {topics.stored}: 6 events found committed, 5 rows marked published, "
        "1 messages without the relay's headers skipped"
    ]


async def test_notification_wakes_an_idle_relay(
    settings: Settings, engine: AsyncEngine, kafka_bootstrap: str, topics: Topics
) -> None:
    # An hour between polls: only the NOTIFY from the upload's transaction
    # can make the relay publish the second upload before the guard expires.
    settings = replace(settings, relay_poll_interval_s=3600.0, relay_enabled=True)
    app = create_app(settings)

    async with app.router.lifespan_context(app), _client(app) as client:
        await upload(client, b"first")
        await wait_until_drained(engine, guard_s=60)
        await asyncio.sleep(0.5)
        await upload(client, b"second")
        await wait_until_drained(engine, guard_s=60)

    messages = read_committed(kafka_bootstrap, [topics.stored])
    assert len(messages) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_relay_on_sqlite_publishes_once(
    settings: Settings,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    running_relay: Relay,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    await upload_many(client, 40, delete_every=5)
    await wait_until_drained(engine)

    rows = await outbox_rows(engine)
    check = check_delivery(rows, read_committed(kafka_bootstrap, [topics.stored, topics.deleted]))

    assert len(rows) == 48
    assert check.summary() == {
        "expected_events": 48,
        "delivered_messages": 48,
        "lost": 0,
        "duplicated": 0,
        "unexpected": 0,
        "contract_errors": 0,
        "order_errors": 0,
    }


async def test_outbox_command_shows_backlog(
    settings: Settings,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url.render_as_string(hide_password=False))
    for number in range(3):
        await upload(client, f"waiting {number}".encode())
    async with engine.begin() as conn:
        await outbox_db.record_offsets(conn, {("some-topic", 2): 41}, utc_now())

    # The command runs its own event loop, so it runs in a thread of its own here.
    code = await asyncio.to_thread(main, ["outbox", "--json"])
    status = json.loads(capsys.readouterr().out)

    assert code == 0
    assert status["pending"] == 3
    assert status["oldest_pending_age_s"] >= 0
    assert status["offsets"] == [
        {
            "topic": "some-topic",
            "partition": 2,
            "next_offset": 41,
            "updated_at": status["offsets"][0]["updated_at"],
        }
    ]

    code = await asyncio.to_thread(main, ["outbox"])
    text = capsys.readouterr().out

    assert code == 0
    assert "pending events: 3\n" in text
    assert "  some-topic [2] 41 (updated " in text


def test_relay_command_needs_kafka(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)

    code = main(["relay"])

    assert code == 2
    assert "KAFKA_BOOTSTRAP is not set" in capsys.readouterr().err


async def test_relay_enabled_without_kafka_stays_off(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(settings, kafka_bootstrap=None, relay_enabled=True)
    app = create_app(settings)

    with caplog.at_level(logging.WARNING):
        async with app.router.lifespan_context(app), _client(app) as client:
            created = await upload(client, b"kept in the outbox")

    assert created.status_code == 201
    assert await pending_count(engine) == 1
    assert "RELAY_ENABLED is true but KAFKA_BOOTSTRAP is unset" in caplog.text


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
