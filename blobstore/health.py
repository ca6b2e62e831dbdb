"""Health checks of the components the service depends on: storage, database, Kafka.

Every check runs under HEALTH_TIMEOUT_S, so a hung disk, database or broker
turns into a failed check instead of a probe that never returns. Checks run
concurrently, so a report takes about one timeout at most.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db.stats import outbox_backlog
from blobstore.events.probe import count_brokers
from blobstore.storage import StorageBackend

__all__ = ["DEGRADED", "DISABLED", "FAIL", "OK", "ComponentHealth", "HealthChecker", "HealthReport"]

logger = logging.getLogger(__name__)

OK = "ok"
FAIL = "fail"
DEGRADED = "degraded"
DISABLED = "disabled"

MAX_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ComponentHealth:
    status: str
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """The overall status, each component's result and, for the full report, the outbox."""

    status: str
    components: dict[str, ComponentHealth]
    outbox: dict[str, Any] | None = None

    @property
    def healthy(self) -> bool:
        """Whether the service can serve requests (degraded still can)."""
        return self.status != FAIL

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status,
            "failed": [name for name, c in self.components.items() if c.status == FAIL],
            "components": {
                name: {"status": c.status, "detail": c.detail}
                for name, c in self.components.items()
            },
        }
        if self.outbox is not None:
            body["outbox"] = self.outbox
        return body


def _describe(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    described = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return described[:MAX_DETAIL_CHARS]


class HealthChecker:
    """Runs the checks behind /readyz and /healthz."""

    def __init__(self, settings: Settings, storage: StorageBackend, engine: AsyncEngine) -> None:
        self.settings = settings
        self.storage = storage
        self.engine = engine
        self.timeout_s = settings.health_timeout_s
        # The last status per component, so failures are logged when they
        # start and end rather than on every probe.
        self._last_status: dict[str, str] = {}

    async def readiness(self) -> HealthReport:
        """Check storage and database only, which is what serving requests needs."""
        storage, database = await asyncio.gather(
            self._run("storage", self._check_storage), self._run("database", self._check_database)
        )
        components = {"storage": storage, "database": database}
        failed = any(c.status == FAIL for c in components.values())
        return HealthReport(status=FAIL if failed else OK, components=components)

    async def report(self) -> HealthReport:
        """Check every component and read the outbox backlog.

        Kafka down makes the report degraded rather than failed, because
        uploads keep working and their events wait in the outbox, unless
        HEALTH_REQUIRE_KAFKA is set.
        """
        storage, database, kafka, outbox = await asyncio.gather(
            self._run("storage", self._check_storage),
            self._run("database", self._check_database),
            self._kafka(),
            self._outbox(),
        )
        components = {"storage": storage, "database": database, "kafka": kafka}

        if storage.status == FAIL or database.status == FAIL:
            status = FAIL
        elif kafka.status == FAIL:
            status = FAIL if self.settings.health_require_kafka else DEGRADED
        else:
            status = OK
        return HealthReport(status=status, components=components, outbox=outbox)

    async def _run(self, name: str, check: Callable[[], Awaitable[str]]) -> ComponentHealth:
        try:
            result = ComponentHealth(OK, await asyncio.wait_for(check(), self.timeout_s))
        except TimeoutError:
            result = ComponentHealth(FAIL, f"timed out after {self.timeout_s:g}s")
        except Exception as exc:  # A probe reports any failure instead of raising it.
            result = ComponentHealth(FAIL, _describe(exc))
        self._log_change(name, result)
        return result

    def _log_change(self, name: str, result: ComponentHealth) -> None:
        previous = self._last_status.get(name)
        self._last_status[name] = result.status
        if result.status == FAIL and previous != FAIL:
            logger.warning(
                "health check of %s failed: %s", name, result.detail, extra={"component": name}
            )
        elif result.status != FAIL and previous == FAIL:
            logger.info("health check of %s recovered", name, extra={"component": name})

    async def _check_storage(self) -> str:
        await self.storage.probe()
        return "probe file written, read back and deleted"

    async def _check_database(self) -> str:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "SELECT 1 answered"

    async def _kafka(self) -> ComponentHealth:
        bootstrap = self.settings.kafka_bootstrap
        if bootstrap is None:
            return ComponentHealth(
                DISABLED, "KAFKA_BOOTSTRAP is not set; events stay in the outbox"
            )

        async def check() -> str:
            # The client's own timeout is a little shorter, so it reports its
            # error before wait_for gives up on it.
            brokers = await asyncio.to_thread(count_brokers, bootstrap, self.timeout_s * 0.9)
            return f"{brokers} broker(s) answered at {bootstrap}"

        return await self._run("kafka", check)

    async def _outbox(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.engine.connect() as conn:
                    backlog = await outbox_backlog(conn)
        except TimeoutError:
            return {"error": f"timed out after {self.timeout_s:g}s"}
        except Exception as exc:  # The database check reports the cause.
            return {"error": _describe(exc)}
        return {
            "pending": backlog.pending,
            "oldest_pending_age_seconds": round(backlog.oldest_age_seconds(utc_now()), 3),
        }
