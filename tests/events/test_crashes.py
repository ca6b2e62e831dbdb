"""The relay under crashes, a broker outage and a second relay: nothing lost, nothing twice.

Relays run as real processes (`python -m blobstore relay`) that the test kills
with SIGKILL, or that kill themselves at a chosen point through the test-only
BLOBSTORE_RELAY_FAULT switch, while uploads go on in the test's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from blobstore.config import Settings
from blobstore.events.faults import AFTER_KAFKA_COMMIT, DURING_RECONCILE, MID_BATCH, FaultSwitch
from blobstore.events.relay import Relay
from tests.events.conftest import (
    RelayProcesses,
    Topics,
    pending_count,
    relay_environment,
    wait_for_line,
    wait_until_drained,
)
from tests.events.kafka import check_delivery, read_committed
from tests.helpers import outbox_rows, upload

pytestmark = pytest.mark.slow

KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka"

# Kill cycles in the crash test; BLOBSTORE_CRASH_CYCLES runs more of them.
CRASH_CYCLES = int(os.environ.get("BLOBSTORE_CRASH_CYCLES", "51"))
# Guards against a relay that never reaches its fault point; not a speed check.
CYCLE_GUARD_S = 120.0
LOCK_ACQUIRED = "acquired the relay lock"


class Uploader:
    """Uploads small files, deleting every fifth right away, until stopped."""

    def __init__(self, client: httpx.AsyncClient, workers: int = 2, pause_s: float = 0.05) -> None:
        self.client = client
        self.workers = workers
        self.pause_s = pause_s
        self.uploads = 0
        self.deletes = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(n)) for n in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def wait_for_uploads(self, count: int) -> None:
        """Wait until `count` more uploads have succeeded."""
        target = self.uploads + count
        async with asyncio.timeout(CYCLE_GUARD_S):
            while self.uploads < target:
                await asyncio.sleep(0.05)

    async def _work(self, worker: int) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            response = await upload(self.client, f"{worker}-{number}".encode(), tags=["crash"])
            if response.status_code != 201:
                self.failures.append(f"upload: {response.status_code} {response.text}")
                continue
            self.uploads += 1
            if number % 5 == 0:
                deleted = await self.client.delete(f"/files/{response.json()['key']}")
                if deleted.status_code != 204:
                    self.failures.append(f"delete: {deleted.status_code} {deleted.text}")
                else:
                    self.deletes += 1
            await asyncio.sleep(self.pause_s)


@pytest.fixture
async def uploader(client: httpx.AsyncClient) -> AsyncIterator[Uploader]:
    uploader = Uploader(client)
    uploader.start()
    try:
        yield uploader
    finally:
        await uploader.stop()


def fault_plan(cycles: int, rng: random.Random, batch_size: int) -> list[tuple[str, int]]:
    """Kill points in turn. A kill after the Kafka commit leaves a batch for the next
    relay to reconcile, so the cycle after it is the one that dies during reconcile."""
    plan: list[tuple[str, int]] = []
    while len(plan) < cycles:
        plan.append((AFTER_KAFKA_COMMIT, rng.randint(1, 3)))
        plan.append((DURING_RECONCILE, 1))
        plan.append((MID_BATCH, rng.randint(1, 2 * batch_size)))
    return plan[:cycles]


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def finish_with_clean_relay(
    settings: Settings, engine: AsyncEngine, processes: RelayProcesses, name: str
) -> int:
    """Drain the outbox with a relay that has no fault, stop it with SIGTERM, return its status."""
    process, log = await processes.start(relay_environment(settings), name)
    await wait_until_drained(engine)
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(CYCLE_GUARD_S):
        status = await process.wait()
    assert "relay stopped" in log.read_text(), tail(log)
    return status


async def test_crash_cycles_deliver_each_event_once(
    settings: Settings,
    engine: AsyncEngine,
    uploader: Uploader,
    relay_processes: RelayProcesses,
    kafka_bootstrap: str,
    topics: Topics,
    crash_summary: dict[str, object],
) -> None:
    settings = replace(settings, relay_batch_size=20)
    seed = int(os.environ.get("BLOBSTORE_CRASH_SEED", random.randrange(2**32)))
    plan = fault_plan(CRASH_CYCLES, random.Random(seed), settings.relay_batch_size)
    kills: Counter[str] = Counter()

    for cycle, (point, count) in enumerate(plan):
        env = relay_environment(settings, BLOBSTORE_RELAY_FAULT=f"{point}:{count}")
        process, log = await relay_processes.start(env, f"cycle-{cycle:03d}-{point}")
        async with asyncio.timeout(CYCLE_GUARD_S):
            status = await process.wait()
        assert status == -signal.SIGKILL, f"cycle {cycle} ({point}:{count}):\n{tail(log)}"
        assert f"BLOBSTORE_RELAY_FAULT={point}: killing" in log.read_text(), tail(log)
        kills[point] += 1

    await uploader.stop()
    exit_status = await finish_with_clean_relay(settings, engine, relay_processes, "final")
    rows = await outbox_rows(engine)
    check = check_delivery(rows, read_committed(kafka_bootstrap, [topics.stored, topics.deleted]))
    crash_summary.update(
        kill_cycles=sum(kills.values()),
        kills_by_point=dict(kills),
        seed=seed,
        uploads=uploader.uploads,
        deletes=uploader.deletes,
        **check.summary(),
    )

    assert sum(kills.values()) == CRASH_CYCLES
    assert uploader.failures == []
    assert exit_status == 0
    assert check.lost == []
    assert check.duplicated == {}
    assert check.unexpected == []
    assert check.contract_errors == []
    assert check.order_errors == []
    assert check.expected == uploader.uploads + uploader.deletes


async def test_standby_relay_takes_over(
    settings: Settings,
    engine: AsyncEngine,
    uploader: Uploader,
    relay_processes: RelayProcesses,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    env = relay_environment(settings)
    first, first_log = await relay_processes.start(env, "first")
    second, second_log = await relay_processes.start(env, "second")

    async with asyncio.timeout(CYCLE_GUARD_S):
        while True:
            first_holds = LOCK_ACQUIRED in first_log.read_text()
            if first_holds or LOCK_ACQUIRED in second_log.read_text():
                break
            await asyncio.sleep(0.1)
    active, active_log, standby_log = (
        (first, first_log, second_log) if first_holds else (second, second_log, first_log)
    )
    await wait_for_line(standby_log, "waiting for the relay lock")
    await uploader.wait_for_uploads(40)
    await wait_for_line(active_log, "relay publishing")
    standby_before_kill = standby_log.read_text()

    active.send_signal(signal.SIGKILL)
    await active.wait()
    await wait_for_line(standby_log, LOCK_ACQUIRED)
    await uploader.wait_for_uploads(40)
    await uploader.stop()
    await wait_until_drained(engine)

    rows = await outbox_rows(engine)
    check = check_delivery(rows, read_committed(kafka_bootstrap, [topics.stored, topics.deleted]))

    assert LOCK_ACQUIRED not in standby_before_kill
    assert "relay publishing" not in standby_before_kill
    assert uploader.failures == []
    assert check.lost == []
    assert check.duplicated == {}
    assert check.contract_errors == []
    assert check.expected == uploader.uploads + uploader.deletes


def broker_address() -> str | None:
    result = subprocess.run(
        [str(KAFKA_SCRIPT), "status"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


async def run_kafka_script(command: str) -> None:
    result = await asyncio.to_thread(
        subprocess.run, [str(KAFKA_SCRIPT), command], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def relay_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "blobstore.events.relay" and record.levelno == logging.WARNING
    ]


async def wait_for_relay_warning(caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(CYCLE_GUARD_S):
        while not relay_warnings(caplog):
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def broker_stopped() -> AsyncIterator[None]:
    """Stop the broker for the body of the block, then resume it with the same address."""
    await run_kafka_script("stop")
    try:
        yield
    finally:
        await run_kafka_script("resume")


async def test_kafka_outage_loses_no_events(
    settings: Settings,
    engine: AsyncEngine,
    app: Starlette,
    uploader: Uploader,
    kafka_bootstrap: str,
    topics: Topics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if broker_address() != kafka_bootstrap:
        pytest.skip("KAFKA_BOOTSTRAP is not the broker that scripts/kafka runs, so it cannot stop")
    relay = Relay(settings, engine, faults=FaultSwitch())
    stop = asyncio.Event()

    with caplog.at_level(logging.INFO, logger="blobstore.events.relay"):
        task = asyncio.create_task(relay.run(stop))
        await uploader.wait_for_uploads(30)
        async with broker_stopped():
            uploads_before = uploader.uploads
            await uploader.wait_for_uploads(60)
            # librdkafka rides out a short outage by itself; keep the broker down
            # until a call times out and the relay fails, logs and backs off.
            await wait_for_relay_warning(caplog)
            pending_during_outage = await pending_count(engine)
            uploads_during_outage = uploader.uploads - uploads_before
        await uploader.wait_for_uploads(30)
        await uploader.stop()
        await wait_until_drained(engine)
        stop.set()
        await task

    rows = await outbox_rows(engine)
    check = check_delivery(rows, read_committed(kafka_bootstrap, [topics.stored, topics.deleted]))
    warnings = relay_warnings(caplog)
    repeated = [first for first, second in pairwise(warnings) if first == second]

    assert uploads_during_outage >= 60
    assert pending_during_outage > 0
    assert uploader.failures == []
    assert check.lost == []
    assert check.duplicated == {}
    assert check.contract_errors == []
    assert check.expected == uploader.uploads + uploader.deletes
    assert warnings, "the outage was not logged"
    assert all(kafka_bootstrap in warning for warning in warnings)
    assert repeated == []
    assert any("relay recovered after" in record.getMessage() for record in caplog.records)
