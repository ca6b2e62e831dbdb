"""/livez, /readyz and /healthz: what each checks, and that a hung dependency cannot hang them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL, make_url

from blobstore.api import create_app
from blobstore.config import Settings
from blobstore.db.engine import create_engine
from blobstore.health import HealthChecker
from blobstore.storage import LocalStorage
from tests.helpers import app_behind_proxy, temp_files, upload
from tests.tcp import black_hole, free_port

HEALTH_TIMEOUT_S = 0.5
# A guard so that a probe that hangs fails the test instead of hanging the suite.
PROBE_GUARD_S = 30

StartApp = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, health_timeout_s=HEALTH_TIMEOUT_S, kafka_bootstrap=None)


async def get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await asyncio.wait_for(client.get(path), PROBE_GUARD_S)


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    """Make a directory unwritable, even for root (which ignores permission bits)."""
    as_root = os.geteuid() == 0
    changed: list[Path] = []

    def make(path: Path) -> None:
        if as_root:
            if shutil.which("chattr") is None:
                pytest.skip("running as root needs chattr to make a directory read-only")
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"chattr +i {path} failed: {result.stderr.strip()}")
        else:
            path.chmod(0o555)
        changed.append(path)

    yield make

    for path in changed:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755)


async def test_livez_returns_ok(client: httpx.AsyncClient) -> None:
    response = await get(client, "/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_checks_storage_and_database(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await get(client, "/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["failed"] == []
    assert set(response.json()["components"]) == {"storage", "database"}
    assert response.json()["components"]["storage"]["status"] == "ok"
    assert response.json()["components"]["database"]["status"] == "ok"
    assert temp_files(settings.file_base_path) == []


async def test_readyz_with_read_only_storage_returns_503(
    client: httpx.AsyncClient, settings: Settings, make_read_only: Callable[[Path], None]
) -> None:
    make_read_only(settings.file_base_path / "tmp")

    ready = await get(client, "/readyz")
    health = await get(client, "/healthz")

    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
    assert ready.json()["failed"] == ["storage"]
    assert "cannot write probe file" in ready.json()["components"]["storage"]["detail"]
    assert ready.json()["components"]["database"]["status"] == "ok"
    assert health.status_code == 503
    assert health.json()["failed"] == ["storage"]


async def test_healthz_reports_outbox_backlog(client: httpx.AsyncClient) -> None:
    await upload(client, b"first")
    await upload(client, b"second")

    response = await get(client, "/healthz")

    assert response.status_code == 200
    assert response.json()["outbox"]["pending"] == 2
    assert response.json()["outbox"]["oldest_pending_age_seconds"] >= 0


async def test_healthz_without_kafka_reports_it_disabled(client: httpx.AsyncClient) -> None:
    response = await get(client, "/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["components"]["kafka"]["status"] == "disabled"
    assert "KAFKA_BOOTSTRAP" in response.json()["components"]["kafka"]["detail"]


@pytest.fixture
async def start_app(settings: Settings) -> AsyncIterator[StartApp]:
    """Start the app with some settings changed, stopping it after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**changes: Any) -> httpx.AsyncClient:
            app = create_app(replace(settings, **changes))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )

        yield start


async def test_healthz_with_unreachable_kafka_is_degraded(
    start_app: StartApp,
) -> None:
    client = await start_app(kafka_bootstrap=f"127.0.0.1:{free_port()}")

    response = await get(client, "/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["kafka"]
    assert response.json()["components"]["kafka"]["status"] == "fail"


async def test_healthz_requiring_unreachable_kafka_returns_503(
    start_app: StartApp,
) -> None:
    client = await start_app(kafka_bootstrap=f"127.0.0.1:{free_port()}", health_require_kafka=True)

    response = await get(client, "/healthz")
    ready = await get(client, "/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["failed"] == ["kafka"]
    assert ready.status_code == 200


@pytest.mark.kafka
async def test_healthz_with_running_kafka_is_ok(
    start_app: StartApp,
) -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if not bootstrap:
        pytest.skip("KAFKA_BOOTSTRAP names no broker; run the suite with scripts/test")
    client = await start_app(kafka_bootstrap=bootstrap)

    response = await get(client, "/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["components"]["kafka"]["status"] == "ok"
    assert "1 broker(s) answered" in response.json()["components"]["kafka"]["detail"]


async def test_database_check_on_silent_server_times_out(tmp_path: Path) -> None:
    async with black_hole() as port:
        url = make_url(f"postgresql+asyncpg://blobstore:secret@127.0.0.1:{port}/blobstore")
        settings = Settings.from_env({"FILE_BASE_PATH": str(tmp_path / "files")})
        settings = replace(settings, database_url=url, health_timeout_s=HEALTH_TIMEOUT_S)
        storage = LocalStorage(settings.file_base_path)
        storage.ensure_ready()
        engine = create_engine(url)
        try:
            report = await asyncio.wait_for(
                HealthChecker(settings, storage, engine).readiness(), PROBE_GUARD_S
            )
        finally:
            await engine.dispose()
            storage.close()

    assert report.status == "fail"
    assert report.components["database"].status == "fail"
    assert report.components["database"].detail == f"timed out after {HEALTH_TIMEOUT_S:g}s"
    assert report.components["storage"].status == "ok"


@pytest.mark.postgres
async def test_probes_when_database_hangs_return_503(
    migrated_postgres: URL, tmp_path: Path
) -> None:
    async with app_behind_proxy(migrated_postgres, tmp_path / "files", HEALTH_TIMEOUT_S) as (
        client,
        proxy,
    ):
        before = await get(client, "/readyz")
        proxy.freeze()
        ready = await get(client, "/readyz")
        health = await get(client, "/healthz")
        live = await get(client, "/livez")

    assert before.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database"]
    assert ready.json()["components"]["database"]["detail"] == "timed out after 0.5s"
    assert ready.json()["components"]["storage"]["status"] == "ok"
    assert health.status_code == 503
    assert health.json()["failed"] == ["database"]
    assert "timed out" in health.json()["outbox"]["error"]
    assert live.status_code == 200
