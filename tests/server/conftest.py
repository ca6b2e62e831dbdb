"""A real `blobstore serve` process on PostgreSQL, for tests that need real sockets.

ASGI test transports hand the app a complete body, so lying Content-Length
headers, stalled clients and the uvicorn settings can only be tested against
a server listening on loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db.engine import create_engine

IDLE_TIMEOUT_S = 1
MAX_UPLOAD_MB = 1
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    host: str
    port: int
    base_path: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_healthy(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {STARTUP_TIMEOUT_S} s:\n{server.log.read_text()}")


@pytest.fixture(scope="session")
def live_server(
    migrated_postgres: URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("live-server")
    server = LiveServer("127.0.0.1", free_port(), root / "files", root / "server.log")
    env = {
        **os.environ,
        "DATABASE_URL": migrated_postgres.render_as_string(hide_password=False),
        "FILE_BASE_PATH": str(server.base_path),
        "UPLOAD_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
        "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
    }
    command = [sys.executable, "-m", "blobstore", "serve", "--host", server.host]
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(server.port)], env=env, stdout=log, stderr=log
        )
    try:
        wait_until_healthy(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def server_engine(
    migrated_postgres: URL, live_server: LiveServer
) -> AsyncIterator[AsyncEngine]:
    """An engine on the server's database; tables and blob directory are emptied first."""
    for shard in live_server.base_path.glob("??"):
        shutil.rmtree(shard)
    engine = create_engine(migrated_postgres)
    async with engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE blobs, files, file_tags, outbox RESTART IDENTITY CASCADE")
        )
    yield engine
    await engine.dispose()
