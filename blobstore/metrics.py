"""Prometheus metrics, defined once so every module counts into the same series."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "RELAY_BATCH_SECONDS",
    "RELAY_ERRORS",
    "RELAY_PUBLISHED",
    "UPLOADS",
    "UPLOAD_BYTES",
    "UPLOAD_SIZE",
]

UPLOADS = Counter(
    "blobstore_uploads_total",
    "Uploads that finished, by outcome (stored, deduplicated, rejected).",
    ["outcome"],
)
UPLOAD_BYTES = Counter(
    "blobstore_upload_bytes_total", "Bytes received in uploads that were stored."
)
UPLOAD_SIZE = Histogram(
    "blobstore_upload_size_bytes",
    "Size of stored uploads.",
    buckets=[2**n for n in range(10, 34, 2)],
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
