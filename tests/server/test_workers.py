"""`blobstore serve --workers 2`: metrics add up across worker processes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import metric_total
from tests.server.conftest import ServerProcess, wait_until

BATCH = 24
MAX_BATCHES = 20
CONCURRENCY = 8
GUARD_S = 60


def access_pids(server: ServerProcess, route: str = "/livez") -> list[int]:
    """The worker pid of each request to `route` in the access log."""
    return [
        line["pid"]
        for line in server.json_lines()
        if line["logger"] == "blobstore.access" and line.get("route") == route
    ]


def fresh_connection_get(url: str) -> int:
    # A new connection per request, so the kernel can hand each to either worker.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return client.get(url, timeout=30).status_code


def test_two_workers_share_one_set_of_counters(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server("--workers", "2")
    metrics_dirs = list(server.tmp_dir.glob("blobstore-metrics-*"))
    # The fixture's own /livez request counts too. A request is logged just
    # after its response is sent (and counted), so wait for the line.
    wait_until(lambda: bool(access_pids(server)), GUARD_S, "the first access line")
    sent = len(access_pids(server))

    # Which worker accepts a connection is up to the kernel; keep sending
    # batches until both have served some.
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for _ in range(MAX_BATCHES):
            statuses = list(pool.map(fresh_connection_get, [f"{server.base_url}/livez"] * BATCH))
            sent += len(statuses)
            assert statuses == [200] * BATCH
            if len(set(access_pids(server))) == 2:
                break
        uploads = list(
            pool.map(
                lambda n: (
                    httpx.post(
                        f"{server.base_url}/files?filename=w{n}.txt", content=f"worker body {n}"
                    ).status_code
                ),
                range(6),
            )
        )
    wait_until(lambda: len(access_pids(server)) == sent, GUARD_S, f"{sent} /livez access lines")
    wait_until(lambda: len(access_pids(server, "/files")) == 6, GUARD_S, "6 /files access lines")
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    status = server.stop()

    assert len(metrics_dirs) == 1
    assert len(set(access_pids(server))) == 2
    assert len(access_pids(server)) == sent
    assert uploads == [201] * 6
    assert metric_total(text, "blobstore_http_requests_total", route="/livez") == sent
    assert (
        metric_total(text, "blobstore_http_request_duration_seconds_count", route="/livez") == sent
    )
    assert metric_total(text, "blobstore_uploads_total", outcome="stored") == 6
    assert metric_total(text, "blobstore_http_requests_total", route="/files", status="201") == 6
    assert metric_total(text, "blobstore_stored_blobs") == 6
    assert status == 0
    assert list(server.tmp_dir.glob("blobstore-metrics-*")) == []
