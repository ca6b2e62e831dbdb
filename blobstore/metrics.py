"""Prometheus metrics, defined once so every module counts into the same series.

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR names a directory where
each worker writes its values; `render_metrics` then adds them up across
workers. Gauges that describe the index (blob counts, outbox backlog) are
queried at scrape time by `IndexStatsCollector` instead, because every worker
would report the same database-wide numbers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from blobstore.clock import utc_now
from blobstore.db.stats import IndexStats

__all__ = [
    "DB_POOL_IN_USE",
    "DEDUPLICATED_BYTES",
    "HTTP_REQUESTS",
    "HTTP_REQUESTS_IN_PROGRESS",
    "HTTP_REQUEST_DURATION",
    "RELAY_BATCH_SECONDS",
    "RELAY_ERRORS",
    "RELAY_PUBLISHED",
    "UPLOADS",
    "UPLOAD_BYTES",
    "UPLOAD_SIZE",
    "IndexStatsCollector",
    "mark_worker_stopped",
    "render_metrics",
]

logger = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# The `_created` timestamp series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "blobstore_http_requests_total",
    "HTTP requests by route template, method and response status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "blobstore_http_request_duration_seconds",
    "Time from receiving a request to sending the last byte of its response.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# "livesum" adds up the workers that are running and drops the ones that stopped.
HTTP_REQUESTS_IN_PROGRESS = Gauge(
    "blobstore_http_requests_in_progress",
    "HTTP requests being served now.",
    multiprocess_mode="livesum",
)

UPLOADS = Counter(
    "blobstore_uploads_total",
    "Uploads that finished, by outcome (stored, deduplicated, rejected).",
    ["outcome"],
)
UPLOAD_BYTES = Counter(
    "blobstore_upload_bytes_total",
    "Bytes received in uploads that were recorded, deduplicated ones included.",
)
UPLOAD_SIZE = Histogram(
    "blobstore_upload_size_bytes",
    "Size of recorded uploads, deduplicated ones included.",
    buckets=[2**n for n in range(10, 34, 2)],
)
DEDUPLICATED_BYTES = Counter(
    "blobstore_deduplicated_bytes_total",
    "Bytes of uploads whose content was already stored, so no new blob was written.",
)
DOWNLOAD_BYTES = Counter(
    "blobstore_download_bytes_total",
    "Bytes of stored content sent in responses, by how: sendfile (zero-copy) or copy.",
    ["method"],
)

DB_POOL_IN_USE = Gauge(
    "blobstore_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)

RELAY_PUBLISHED = Counter(
    "blobstore_relay_published_total", "Outbox events that the relay published to Kafka."
)
RELAY_ERRORS = Counter(
    "blobstore_relay_errors_total",
    "Relay failures by stage (connect, reconcile, publish, commit, record, database).",
    ["stage"],
)
RELAY_BATCH_SECONDS = Histogram(
    "blobstore_relay_batch_seconds", "Time to publish and record one batch of outbox events."
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR_VARIABLE))


def render_metrics(*registries: CollectorRegistry) -> bytes:
    """Render the process's metrics (every worker's, in multiprocess mode) plus `registries`."""
    if multiprocess_enabled():
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    # The text format allows families one after another, so outputs concatenate.
    return b"".join(generate_latest(registry) for registry in (base, *registries))


def mark_worker_stopped() -> None:
    """Drop this process's "live" gauge values, so stopped workers stop counting."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class IndexStatsCollector(Collector):
    """Exposes index-wide gauges from a query that runs at scrape time.

    `refresh` runs the query at most once per `max_age_s` and gives up after
    `timeout_s`, so a slow or hung database cannot hang a scrape. When the last
    query failed, only `blobstore_index_stats_up 0` is exported.
    """

    def __init__(
        self,
        query: Callable[[], Awaitable[IndexStats]],
        *,
        timeout_s: float,
        max_age_s: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._query = query
        self._timeout_s = timeout_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._stats: IndexStats | None = None
        self._refreshed_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if (
                self._refreshed_at is not None
                and time.monotonic() - self._refreshed_at < self._max_age_s
            ):
                return
            was_up = self._refreshed_at is None or self._stats is not None
            error = ""
            try:
                self._stats = await asyncio.wait_for(self._query(), self._timeout_s)
            except TimeoutError:
                self._stats = None
                error = f"timed out after {self._timeout_s:g}s"
            except Exception as exc:  # Reported as index_stats_up 0; the scrape goes on.
                self._stats = None
                error = str(exc)
            self._refreshed_at = time.monotonic()

            # Log when the query starts failing and when it recovers, not on every scrape.
            if self._stats is None and was_up:
                logger.warning("index statistics query failed: %s", error)
            elif self._stats is not None and not was_up:
                logger.info("index statistics query recovered")

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        yield GaugeMetricFamily(
            "blobstore_index_stats_up",
            "1 when the last index statistics query succeeded within its timeout, else 0.",
            value=0 if stats is None else 1,
        )
        if stats is None:
            return

        yield GaugeMetricFamily(
            "blobstore_stored_blobs", "Distinct blobs recorded in the index.", value=stats.blobs
        )
        yield GaugeMetricFamily(
            "blobstore_stored_bytes",
            "Bytes of all distinct blobs in the index, each counted once.",
            value=stats.blob_bytes,
        )
        yield GaugeMetricFamily(
            "blobstore_outbox_pending_events",
            "Outbox rows not yet published to Kafka.",
            value=stats.backlog.pending,
        )
        yield GaugeMetricFamily(
            "blobstore_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not yet published; 0 when none is pending.",
            value=stats.backlog.oldest_age_seconds(self._clock()),
        )
