"""The configuration and operations pages, in both languages, cover every setting and metric."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from blobstore import metrics
from blobstore.config import ENV_VARS
from blobstore.db.stats import IndexStats, OutboxBacklog

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONFIGURATION_PAGES = [DOCS / "configuration.md", DOCS / "es" / "configuracion.md"]
OPERATIONS_PAGES = [DOCS / "operations.md", DOCS / "es" / "operaciones.md"]


async def index_metric_names() -> set[str]:
    async def query() -> IndexStats:
        return IndexStats(blobs=0, blob_bytes=0, backlog=OutboxBacklog(0, None))

    collector = metrics.IndexStatsCollector(query, timeout_s=1)
    await collector.refresh()
    return {family.name for family in collector.collect()}


def defined_metric_names() -> set[str]:
    names = set()
    for value in (getattr(metrics, name) for name in metrics.__all__):
        if isinstance(value, MetricWrapperBase):
            # The client library drops a counter's _total suffix from its family name.
            names.update(
                family.name + ("_total" if family.type == "counter" else "")
                for family in value.describe()
            )
    return names


@pytest.mark.parametrize("page", CONFIGURATION_PAGES, ids=lambda p: p.name)
def test_configuration_page_describes_every_variable(page: Path) -> None:
    text = page.read_text()

    assert [name for name in sorted(ENV_VARS) if f"`{name}`" not in text] == []


@pytest.mark.parametrize("page", OPERATIONS_PAGES, ids=lambda p: p.name)
def test_operations_page_lists_every_metric(page: Path) -> None:
    names = defined_metric_names() | asyncio.run(index_metric_names())
    text = page.read_text()

    assert len(names) == 16
    assert [name for name in sorted(names) if f"`{name}`" not in text] == []
