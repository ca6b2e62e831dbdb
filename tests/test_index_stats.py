"""IndexStatsCollector: a failing or slow query never fails the scrape, and is logged once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from blobstore.db.stats import IndexStats, OutboxBacklog
from blobstore.metrics import IndexStatsCollector

STATS = IndexStats(
    blobs=3, blob_bytes=300, backlog=OutboxBacklog(pending=0, oldest_created_at=None)
)


def exported(collector: IndexStatsCollector) -> dict[str, float]:
    return {family.name: family.samples[0].value for family in collector.collect()}


async def test_failing_query_exports_only_up_zero_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    healthy = False

    async def query() -> IndexStats:
        if not healthy:
            raise OSError("connection refused")
        return STATS

    collector = IndexStatsCollector(query, timeout_s=1, max_age_s=0)

    with caplog.at_level(logging.INFO, logger="blobstore.metrics"):
        await collector.refresh()
        await collector.refresh()
        down = exported(collector)
        healthy = True
        await collector.refresh()
        up = exported(collector)

    assert down == {"blobstore_index_stats_up": 0}
    assert up["blobstore_index_stats_up"] == 1
    assert up["blobstore_stored_blobs"] == 3
    assert up["blobstore_outbox_oldest_pending_age_seconds"] == 0
    assert [r.getMessage() for r in caplog.records] == [
        "index statistics query failed: connection refused",
        "index statistics query recovered",
    ]


async def test_slow_query_times_out(caplog: pytest.LogCaptureFixture) -> None:
    async def query() -> IndexStats:
        await asyncio.Event().wait()
        return STATS

    collector = IndexStatsCollector(query, timeout_s=0.05)

    with caplog.at_level(logging.WARNING, logger="blobstore.metrics"):
        await collector.refresh()

    assert exported(collector) == {"blobstore_index_stats_up": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "index statistics query failed: timed out after 0.05s"
    ]


async def test_fresh_result_is_reused_within_max_age() -> None:
    calls = 0

    async def query() -> IndexStats:
        nonlocal calls
        calls += 1
        return STATS

    collector = IndexStatsCollector(query, timeout_s=1, max_age_s=60)

    await collector.refresh()
    await collector.refresh()

    assert calls == 1
