"""Real `blobstore serve` processes on loopback ports, stopped after their tests.

ASGI test transports hand the app a complete body, so lying Content-Length
headers, stalled clients, signals and workers can only be tested against a
server listening on a socket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import ENV_VARS
from blobstore.db.engine import create_engine
from tests.tcp import free_port

# Guards against a server that never starts or never stops; the tests assert
# on outcomes, never on how long something took.
START_GUARD_S = 90
STOP_GUARD_S = 90


def wait_until(condition: Callable[[], bool], guard_s: float, description: str) -> None:
    deadline = time.monotonic() + guard_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {guard_s}s for {description}")
        time.sleep(0.05)


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    output_path: Path
    data_path: Path
    tmp_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every output line parsed as JSON; fails on a line that is not one object."""
        return [json.loads(line) for line in self.output().splitlines()]

    def stop(self) -> int:
        """Send SIGTERM and return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_GUARD_S)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `blobstore serve` with JSON logs and the embedded database, unless `env` overrides."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        root = tmp_path / f"server-{port}"
        tmp_dir = root / "tmp"
        tmp_dir.mkdir(parents=True)
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ENV_VARS and key != "PROMETHEUS_MULTIPROC_DIR"
        }
        environment.update(
            {
                "FILE_BASE_PATH": str(root / "data" / "files"),
                "LOG_FORMAT": "json",
                # tempfile puts the workers' metrics directory here, where tests can see it.
                "TMPDIR": str(tmp_dir),
                **(env or {}),
            }
        )
        output_path = root / "output.log"
        with output_path.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "blobstore", "serve", "--port", str(port), *args],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ServerProcess(process, port, output_path, root / "data" / "files", tmp_dir)
        started.append(server)

        wait_until(
            lambda: process.poll() is not None or _answers(f"{server.base_url}/livez"),
            START_GUARD_S,
            f"blobstore serve on port {port}",
        )
        if process.poll() is not None:
            raise AssertionError(
                f"blobstore serve exited with {process.returncode}:\n{server.output()}"
            )
        return server

    yield start

    for server in started:
        if server.process.poll() is None:
            # The server leads its own process group, which contains its workers too.
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


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
