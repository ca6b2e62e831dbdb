"""Start `blobstore serve` as a real process on a loopback port, and stop it after the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blobstore.config import ENV_VARS
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
