"""The outbox relay: publish pending outbox rows to Kafka exactly once.

A session of the relay runs these steps, and any failure ends the session:

1. Hold the single-relay lock (lock.py).
2. Create a producer and call init_transactions. The broker fences every older
   producer with the same transactional.id and aborts a transaction that one
   left open, or finishes its commit if that had already begun.
3. Reconcile (reconcile.py): mark published every row whose message a
   committed transaction already holds.
4. Repeat: take the pending rows in id order, publish them as one Kafka
   transaction, wait for every delivery report, commit, and only then mark the
   rows published and record the partition offsets, in one database
   transaction.

A failed delivery report or commit aborts the transaction and leaves its rows
pending; after a back-off a new session starts again at step 2. A row is
therefore marked published only once a committed transaction contains it, and
a committed row is never sent twice, because a crash between the Kafka commit
and the database update is repaired by step 3 of the next session.

No cursor such as "highest id published" is kept: a transaction that commits
a lower outbox id after higher ones went out still leaves its row pending,
and the next batch picks it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db import outbox as outbox_db
from blobstore.db.outbox import PendingEvent, TopicPartition
from blobstore.errors import KafkaFailure, RelayError
from blobstore.events.faults import AFTER_KAFKA_COMMIT, MID_BATCH, FaultSwitch
from blobstore.events.lock import RelayLock, acquire, relay_lock
from blobstore.events.messages import event_message
from blobstore.events.producer import Delivery, EventProducer, KafkaProducer
from blobstore.events.reconcile import ReadBack, read_back
from blobstore.events.wakeup import OutboxWakeup
from blobstore.metrics import RELAY_BATCH_SECONDS, RELAY_ERRORS, RELAY_PUBLISHED

__all__ = ["BackgroundRelay", "Relay", "start_background_relay"]

logger = logging.getLogger(__name__)

# The first back-off after a failure, in seconds; it doubles per failure up to RELAY_RETRY_MAX_S.
FIRST_RETRY_S = 0.5

ProducerFactory = Callable[[Settings], EventProducer]
Reconciler = Callable[..., ReadBack]


class Relay:
    """Publishes the outbox to Kafka until `run`'s stop event is set."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        producer_factory: ProducerFactory = KafkaProducer,
        reconciler: Reconciler = read_back,
        faults: FaultSwitch | None = None,
    ) -> None:
        if settings.kafka_bootstrap is None:
            raise ValueError("the relay needs settings.kafka_bootstrap")

        self.settings = settings
        self.engine = engine
        self.bootstrap = settings.kafka_bootstrap
        self._producer_factory = producer_factory
        self._reconciler = reconciler
        self._faults = faults or FaultSwitch.from_env()
        self._lock: RelayLock = relay_lock(settings)
        self._wakeup = OutboxWakeup(settings.database_url)
        self._failures = 0
        self._last_failure: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until `stop` is set; a batch in progress then finishes or aborts first."""
        logger.info(
            "relay starting: Kafka %s, transactional.id %s, database %s",
            self.bootstrap,
            self.settings.kafka_transactional_id,
            self.settings.database_url_for_logs,
        )
        try:
            while not stop.is_set():
                try:
                    if not await acquire(self._lock, stop):
                        break
                    await self._session(stop)
                except (RelayError, SQLAlchemyError, OSError) as exc:
                    await self._back_off(exc, stop)
        finally:
            await self._wakeup.close()
            await self._lock.release()
            logger.info("relay stopped")

    async def _session(self, stop: asyncio.Event) -> None:
        producer = self._producer_factory(self.settings)
        try:
            await producer.init_transactions()
            await self._reconcile()
            await self._wakeup.start()
            logger.info("relay publishing to Kafka %s", self.bootstrap)

            while not stop.is_set():
                await self._lock.check()
                self._wakeup.clear()
                async with self.engine.connect() as conn:
                    events = await outbox_db.pending_events(conn, self.settings.relay_batch_size)
                if events:
                    await self._publish(producer, events)
                else:
                    await self._wakeup.wait(self.settings.relay_poll_interval_s, stop)
                self._recovered()
        finally:
            await producer.close()

    async def _reconcile(self) -> None:
        async with self.engine.connect() as conn:
            topics = await outbox_db.pending_topics(conn)
            recorded = await outbox_db.recorded_offsets(conn, topics)
        if not topics:
            return

        found = await asyncio.to_thread(
            self._reconciler,
            self.bootstrap,
            topics,
            recorded,
            group_id=f"{self.settings.kafka_transactional_id}.reconcile",
            faults=self._faults,
        )
        async with self.engine.begin() as conn:
            marked = await outbox_db.mark_reconciled(
                conn, [(event.outbox_id, event.event_id) for event in found.events], utc_now()
            )
            await outbox_db.record_offsets(conn, found.next_offsets, utc_now())

        logger.info(
            "reconciled %s: %d events found committed, %d rows marked published, "
            "%d messages without the relay's headers skipped",
            ", ".join(topics),
            len(found.events),
            marked,
            found.foreign_messages,
        )

    async def _publish(self, producer: EventProducer, events: Sequence[PendingEvent]) -> None:
        started = time.monotonic()
        try:
            producer.begin_transaction()
            for event in events:
                producer.produce(event_message(event))
                if self._faults.due(MID_BATCH):
                    # Deliver what is queued first, so the crash leaves an open
                    # transaction with messages in the log for the next relay to abort.
                    await producer.flush()
                    self._faults.crash(MID_BATCH)

            deliveries = await producer.flush()
            failed = [delivery for delivery in deliveries if delivery.error is not None]
            if failed:
                raise KafkaFailure(
                    f"{len(failed)} of {len(events)} messages failed, first outbox id "
                    f"{failed[0].outbox_id}: {failed[0].error}",
                    stage="publish",
                )
            await producer.commit_transaction()
        except KafkaFailure as exc:
            await self._abort(producer, exc)
            raise
        RELAY_PUBLISHED.inc(len(events))

        self._faults.reached(AFTER_KAFKA_COMMIT)
        try:
            await self._record(events, deliveries)
        except SQLAlchemyError as exc:
            raise RelayError(
                f"recording {len(events)} published events failed: {exc}", stage="record"
            ) from exc
        RELAY_BATCH_SECONDS.observe(time.monotonic() - started)
        logger.debug("published outbox ids %d to %d", events[0].id, events[-1].id)

    async def _record(self, events: Sequence[PendingEvent], deliveries: list[Delivery]) -> None:
        next_offsets: dict[TopicPartition, int] = {}
        for delivery in deliveries:
            key = (delivery.topic, delivery.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), delivery.offset + 1)

        now = utc_now()
        async with self.engine.begin() as conn:
            await outbox_db.mark_published(conn, [event.id for event in events], now)
            await outbox_db.record_offsets(conn, next_offsets, now)

    async def _abort(self, producer: EventProducer, cause: KafkaFailure) -> None:
        # Best effort: if the abort fails too, init_transactions in the next
        # session aborts the transaction, or finds it committed and
        # reconciliation marks its rows.
        if cause.fatal:
            return
        try:
            await producer.abort_transaction()
        except KafkaFailure as exc:
            logger.debug("aborting the Kafka transaction failed: %s", exc)

    async def _back_off(self, exc: Exception, stop: asyncio.Event) -> None:
        stage = exc.stage if isinstance(exc, RelayError) else "database"
        RELAY_ERRORS.labels(stage).inc()
        delay = min(self.settings.relay_retry_max_s, FIRST_RETRY_S * 2**self._failures)
        self._failures += 1

        # One line per distinct error, so a Kafka outage of hours logs a handful of lines.
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last_failure:
            logger.warning(
                "relay failed at %s (Kafka %s): %s; retrying with back-off up to %g s",
                stage,
                self.bootstrap,
                text,
                self.settings.relay_retry_max_s,
            )
            self._last_failure = text
        else:
            logger.debug("relay failed again at %s: %s", stage, text)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    def _recovered(self) -> None:
        """Reset the back-off once a session has published a batch or found nothing to do."""
        if self._failures:
            logger.info("relay recovered after %d failed attempts", self._failures)
        self._failures = 0
        self._last_failure = None


class BackgroundRelay:
    """A relay running as a task inside the serving process."""

    def __init__(self, relay: Relay) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(relay.run(self._stop), name="blobstore-relay")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Stop the relay, letting a batch in progress finish or abort first."""
        self._stop.set()
        # A crash was already logged by _log_crash; shutting down goes on regardless.
        await asyncio.gather(self._task, return_exceptions=True)


def start_background_relay(settings: Settings, engine: AsyncEngine) -> BackgroundRelay | None:
    """Start the in-process relay when RELAY_ENABLED is true and KAFKA_BOOTSTRAP is set."""
    if not settings.relay_enabled:
        return None
    if settings.kafka_bootstrap is None:
        logger.warning("RELAY_ENABLED is true but KAFKA_BOOTSTRAP is unset: the relay stays off")
        return None
    return BackgroundRelay(Relay(settings, engine))


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the relay stopped on an unexpected error", exc_info=task.exception())
