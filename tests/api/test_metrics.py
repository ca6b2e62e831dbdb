"""/metrics: request series by route template, upload counters, index gauges, pool usage."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL
from starlette.applications import Starlette

from tests.helpers import app_behind_proxy, upload

SCRAPE_GUARD_S = 30


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Return every sample on /metrics, keyed by name and label set."""
    response = await asyncio.wait_for(client.get("/metrics"), SCRAPE_GUARD_S)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(route: str, method: str, status: str) -> dict[str, str]:
    return {"route": route, "method": method, "status": status}


async def test_requests_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    key = uuid.uuid4()
    before = await scrape(client)

    await client.get(f"/files/{key}")
    await client.get(f"/v1/files/{key}/meta")
    await client.get(f"/no/such/{key}")
    await client.put("/files")
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "blobstore_http_requests_total"
    count = "blobstore_http_request_duration_seconds_count"
    assert delta(total, **requests("/files/{key}", "GET", "404")) == 1
    assert delta(total, **requests("/v1/files/{key}/meta", "GET", "404")) == 1
    assert delta(total, **requests("unmatched", "GET", "404")) == 1
    assert delta(total, **requests("/files", "PUT", "405")) == 1
    assert delta(count, **requests("/files/{key}", "GET", "404")) == 1
    assert not [labels for _, labels in after if str(key) in str(labels)]


async def test_unknown_method_is_labelled_other(client: httpx.AsyncClient) -> None:
    before = await scrape(client)

    response = await client.request("BREW", "/files")
    after = await scrape(client)

    labels = requests("/files", "other", str(response.status_code))
    assert response.status_code == 405
    assert (
        value(after, "blobstore_http_requests_total", **labels)
        - value(before, "blobstore_http_requests_total", **labels)
        == 1
    )


async def test_upload_counters_separate_deduplicated_bytes(client: httpx.AsyncClient) -> None:
    data = uuid.uuid4().bytes * 100
    before = await scrape(client)

    await upload(client, data)
    await upload(client, data)
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("blobstore_uploads_total", outcome="stored") == 1
    assert delta("blobstore_uploads_total", outcome="deduplicated") == 1
    assert delta("blobstore_upload_bytes_total") == 2 * len(data)
    assert delta("blobstore_deduplicated_bytes_total") == len(data)
    assert delta("blobstore_upload_size_bytes_count") == 2
    assert delta("blobstore_upload_size_bytes_sum") == 2 * len(data)


async def test_download_without_zero_copy_counts_copied_bytes(
    client: httpx.AsyncClient,
) -> None:
    data = uuid.uuid4().bytes * 100
    key = (await upload(client, data)).json()["key"]
    before = await scrape(client)

    # The ASGI test transport offers no zero-copy extension, so the bytes
    # pass through the response in chunks.
    full = await client.get(f"/files/{key}")
    part = await client.get(f"/files/{key}", headers={"range": "bytes=10-19"})
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert full.content == data
    assert part.content == data[10:20]
    assert delta("blobstore_download_bytes_total", method="copy") == len(data) + 10
    assert delta("blobstore_download_bytes_total", method="sendfile") == 0


async def test_upload_with_invalid_tag_counts_as_rejected(client: httpx.AsyncClient) -> None:
    before = await scrape(client)

    response = await upload(client, b"tagged", tags=["Not Valid!"])
    after = await scrape(client)

    assert response.status_code == 400
    assert (
        value(after, "blobstore_uploads_total", outcome="rejected")
        - value(before, "blobstore_uploads_total", outcome="rejected")
        == 1
    )


async def test_index_gauges_count_blobs_and_pending_events(client: httpx.AsyncClient) -> None:
    await upload(client, b"a" * 10)
    await upload(client, b"b" * 20)
    await upload(client, b"a" * 10)

    samples = await scrape(client)

    assert value(samples, "blobstore_index_stats_up") == 1
    assert value(samples, "blobstore_stored_blobs") == 2
    assert value(samples, "blobstore_stored_bytes") == 30
    assert value(samples, "blobstore_outbox_pending_events") == 3
    assert value(samples, "blobstore_outbox_oldest_pending_age_seconds") >= 0


async def test_pool_gauge_counts_checked_out_connections(app: Starlette) -> None:
    engine = app.state.service.engine
    name = "blobstore_db_pool_connections_in_use"
    idle = REGISTRY.get_sample_value(name)

    async with engine.connect():
        busy = REGISTRY.get_sample_value(name)
    after = REGISTRY.get_sample_value(name)

    assert idle is not None
    assert busy == idle + 1
    assert after == idle


async def test_metric_names_follow_prometheus_conventions(client: httpx.AsyncClient) -> None:
    await upload(client, b"named")
    response = await client.get("/metrics")

    families = [
        family
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("blobstore_")
    ]

    assert families
    for family in families:
        assert family.documentation, family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_bytes")), family.name
        if family.type == "gauge":
            assert not family.name.endswith("_total"), family.name


@pytest.mark.postgres
async def test_scrape_with_hung_database_reports_index_stats_down(
    migrated_postgres: URL, tmp_path: Path
) -> None:
    async with app_behind_proxy(migrated_postgres, tmp_path / "files", 0.5) as (client, proxy):
        proxy.freeze()
        samples = await scrape(client)

    assert value(samples, "blobstore_index_stats_up") == 0
    assert ("blobstore_stored_blobs", frozenset()) not in samples
    assert value(samples, "blobstore_http_requests_in_progress") >= 1
