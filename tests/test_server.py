"""The service as users run it: `blobstore serve` in its own process, over real TCP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db import migrate
from tests.conftest import FIXTURES
from tests.helpers import blob_files, row_counts, temp_files

MEBIBYTE = 1024 * 1024


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    files_path: Path
    database_url: URL

    def peak_rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM line in /proc status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: URL, engine: AsyncEngine, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    files_path = tmp_path / "files"
    env = {
        **os.environ,
        "FILE_BASE_PATH": str(files_path),
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MAX_UPLOAD_MB": "300",
    }
    if database_url.get_backend_name() == "postgresql":
        migrate.upgrade(database_url)
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "blobstore", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process, tmp_path / "server.log")
        yield Server(process, base_url, files_path, database_url)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not become healthy:\n{log.read_text()}")


async def generated_body(size: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    """Yield `size` bytes of varied content in 1 MiB chunks, hashing them as they go."""
    block = os.urandom(MEBIBYTE)
    sent = 0
    counter = 0
    while sent < size:
        chunk = (counter.to_bytes(8, "big") + block)[: min(MEBIBYTE, size - sent)]
        digest.update(chunk)
        sent += len(chunk)
        counter += 1
        yield chunk


@pytest.mark.slow
async def test_200_mb_upload_round_trips_with_flat_memory(server: Server) -> None:
    size = 200 * MEBIBYTE
    sent_digest = hashlib.sha256()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
        small = await client.post("/files", content=b"warm up", params={"filename": "w.txt"})
        rss_after_small = server.peak_rss_bytes()

        created = await client.post(
            "/files",
            content=generated_body(size, sent_digest),
            params={"filename": "big.bin"},
            headers={"Content-Type": "application/octet-stream"},
        )
        rss_after_large = server.peak_rss_bytes()

        received_digest = hashlib.sha256()
        received = 0
        async with client.stream("GET", f"/files/{created.json()['key']}") as response:
            async for chunk in response.aiter_bytes():
                received_digest.update(chunk)
                received += len(chunk)

    assert small.status_code == 201
    assert created.status_code == 201
    assert created.json()["size"] == size
    assert created.json()["sha256"] == sent_digest.hexdigest()
    assert received == size
    assert received_digest.hexdigest() == sent_digest.hexdigest()
    # The body streams through fixed-size batches, so peak memory grows by a
    # few MiB, not by the upload's 200 MiB.
    assert rss_after_large - rss_after_small < 48 * MEBIBYTE


@pytest.mark.parametrize("name", ["document.pdf", "gradient.png"])
async def test_real_file_round_trips_over_tcp(server: Server, name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        created = await client.post("/files", files={"file": (name, data)})
        fetched = await client.get(created.json()["url"])

    assert created.status_code == 201
    assert created.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert fetched.content == data


async def test_client_abort_mid_body_leaves_nothing(server: Server, engine: AsyncEngine) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /files?filename=cut.bin HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Length: 8388608\r\n\r\n"
    )
    writer.write(os.urandom(3 * MEBIBYTE))
    await writer.drain()
    await asyncio.sleep(0.5)  # Let the server stage part of the body first.

    partial_temp_files = temp_files(server.files_path)
    writer.close()
    await writer.wait_closed()

    leftovers = partial_temp_files
    for _ in range(50):
        leftovers = temp_files(server.files_path)
        if not leftovers:
            break
        await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=server.base_url) as client:
        after = await client.post("/files", content=b"still works")

    assert len(partial_temp_files) == 1
    assert leftovers == []
    assert after.status_code == 201
    assert [p.name for p in blob_files(server.files_path)] == [after.json()["sha256"]]
    assert (await row_counts(engine))["files"] == 1
