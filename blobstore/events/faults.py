"""A test-only switch that kills the relay process at a chosen point.

The crash tests set `BLOBSTORE_RELAY_FAULT=POINT[:COUNT]` so that the relay
sends itself SIGKILL the COUNT-th time (the first when COUNT is left out) it
reaches POINT. It is unset, and so off, unless a test sets it. Never set it in
production: it kills the whole process, an in-process relay's server included.

Points:
    after_kafka_commit  a batch's Kafka transaction committed, its rows not yet marked
    mid_batch           part of a batch written to the log, the transaction still open
    during_reconcile    a message of the relay's read back, before anything is marked
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from typing import NoReturn

from blobstore.config import ConfigError

__all__ = ["AFTER_KAFKA_COMMIT", "DURING_RECONCILE", "FAULT_VARIABLE", "MID_BATCH", "FaultSwitch"]

logger = logging.getLogger(__name__)

FAULT_VARIABLE = "BLOBSTORE_RELAY_FAULT"
AFTER_KAFKA_COMMIT = "after_kafka_commit"
MID_BATCH = "mid_batch"
DURING_RECONCILE = "during_reconcile"
POINTS = (AFTER_KAFKA_COMMIT, MID_BATCH, DURING_RECONCILE)


class FaultSwitch:
    """Counts how often the relay reaches the configured point and kills it on the chosen hit."""

    def __init__(self, point: str | None = None, count: int = 1) -> None:
        self.point = point
        self.count = count
        self._hits = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FaultSwitch:
        """Read BLOBSTORE_RELAY_FAULT, raising ConfigError on a value it cannot use."""
        env = os.environ if environ is None else environ
        raw = env.get(FAULT_VARIABLE, "")
        if raw == "":
            return cls()

        point, _, count = raw.partition(":")
        if point not in POINTS:
            raise ConfigError(FAULT_VARIABLE, raw, f"the point must be one of {', '.join(POINTS)}")
        if count == "":
            return cls(point)
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(FAULT_VARIABLE, raw, "the count after ':' must be a number >= 1")
        return cls(point, int(count))

    def due(self, point: str) -> bool:
        """Count a pass through `point`; return True when this pass is the one to crash on."""
        if point != self.point:
            return False
        self._hits += 1
        return self._hits == self.count

    def reached(self, point: str) -> None:
        if self.due(point):
            self.crash(point)

    def crash(self, point: str) -> NoReturn:
        logger.warning("%s=%s: killing the relay process with SIGKILL", FAULT_VARIABLE, point)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
        raise SystemExit(137)  # Not reached: SIGKILL cannot be caught.
