"""Downloads from a real `blobstore serve` go out by sendfile(2), byte for byte.

The zero-copy protocol depends on uvicorn internals (blobstore.zerocopy).
When an uvicorn release changes them, these tests fail, because the bytes
then differ or are counted as copied.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import struct
import threading
from collections.abc import Callable

import httpx
import pytest

from blobstore import zerocopy
from blobstore.errors import StorageError
from blobstore.zerocopy import _send_until_full
from tests.helpers import metric_total, sha256
from tests.server.conftest import ServerProcess, wait_until

SIZE = 3 * 1024 * 1024 + 17
TIMEOUT_S = 30
DOWNLOAD_BYTES = "blobstore_download_bytes_total"
# SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)
GUARD_S = 30


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server(env={"MAX_UPLOAD_MB": "64"})


def put(server: ServerProcess, content: bytes) -> str:
    response = httpx.post(
        f"{server.base_url}/files",
        content=content,
        headers={"content-type": "application/octet-stream"},
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def sent_bytes(server: ServerProcess, method: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=TIMEOUT_S).text
    return metric_total(text, DOWNLOAD_BYTES, method=method)


def test_download_is_sent_by_sendfile(server: ServerProcess) -> None:
    content = os.urandom(SIZE)
    key = put(server, content)

    response = httpx.get(f"{server.base_url}/files/{key}", timeout=TIMEOUT_S)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert sha256(response.content) == sha256(content)
    assert sent_bytes(server, "sendfile") == SIZE
    assert sent_bytes(server, "copy") == 0


def test_range_is_sent_by_sendfile(server: ServerProcess) -> None:
    content = os.urandom(SIZE)
    key = put(server, content)

    response = httpx.get(
        f"{server.base_url}/files/{key}",
        headers={"range": "bytes=1000000-1999999"},
        timeout=TIMEOUT_S,
    )

    assert response.status_code == 206
    assert response.content == content[1_000_000:2_000_000]
    assert sent_bytes(server, "sendfile") == 1_000_000


def test_keep_alive_responses_in_sequence(server: ServerProcess) -> None:
    first, second = os.urandom(SIZE), b"small"
    first_key, second_key = put(server, first), put(server, second)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT_S)

    bodies = []
    for method, key in [("GET", first_key), ("HEAD", first_key), ("GET", second_key)]:
        connection.request(method, f"/files/{key}")
        response = connection.getresponse()
        assert response.status == 200
        bodies.append(response.read())
    connection.close()

    assert bodies == [first, b"", second]
    assert sent_bytes(server, "sendfile") == SIZE + len(second)


def test_client_disconnect_mid_download(
    server: ServerProcess,
) -> None:
    content = os.urandom(48 * 1024 * 1024)
    key = put(server, content)

    # A small receive buffer and an early close leave most of the file unsent.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(TIMEOUT_S)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"GET /files/{key} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)

    response = httpx.get(f"{server.base_url}/files/{key}", timeout=TIMEOUT_S)

    assert response.status_code == 200
    assert sha256(response.content) == sha256(content)
    assert sent_bytes(server, "sendfile") < 2 * len(content)
    assert error_lines(server) == []


def test_short_file_raises_storage_error(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "short")
    with open(path, "wb") as file:
        file.write(b"x" * 10)

    left, right = socket.socketpair()
    with (
        left,
        right,
        open(path, "rb") as file,
        pytest.raises(StorageError, match="ended 5 bytes before"),
    ):
        _send_until_full(left.fileno(), file.fileno(), 5, 10)


def error_lines(server: ServerProcess) -> list[dict[str, object]]:
    return [line for line in server.json_lines() if line["level"] in {"ERROR", "CRITICAL"}]


def test_client_reset_before_response(server: ServerProcess) -> None:
    key = put(server, os.urandom(SIZE))
    path = f"/files/{key}"

    # The reset arrives before the response starts, so uvicorn drops the
    # response start and the zero-copy message must not fail on that.
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
    wait_until(
        lambda: any(line.get("path") == path for line in server.json_lines()),
        GUARD_S,
        "the access line of the reset request",
    )

    assert error_lines(server) == []


async def test_cancelled_send_waits_for_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    finished: list[bool] = []

    def blocking_send(socket_fd: int, fd: int, offset: int, count: int) -> int:
        release.wait(GUARD_S)
        finished.append(True)
        return count

    monkeypatch.setattr(zerocopy, "_send_until_full", blocking_send)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(zerocopy._finish_in_thread(loop, -1, -1, 0, 10))
    await asyncio.sleep(0)
    task.cancel()
    for _ in range(10):
        await asyncio.sleep(0)

    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [True]
