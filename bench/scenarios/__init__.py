"""The benchmark scenarios, in the order `python -m bench` runs them."""

from __future__ import annotations

from collections.abc import Callable

from bench.context import Context
from bench.record import ScenarioResult
from bench.scenarios import dedup, download, lookups, relay, small, upload

__all__ = ["SCENARIOS"]

SCENARIOS: dict[str, tuple[str, Callable[[Context], ScenarioResult]]] = {
    "upload": ("Large uploads", upload.run),
    "small": ("Small uploads", small.run),
    "download": ("Downloads", download.run),
    "relay": ("Outbox relay to Kafka", relay.run),
    "lookups": ("Lookups at scale", lookups.run),
    "dedup": ("Deduplication", dedup.run),
}
