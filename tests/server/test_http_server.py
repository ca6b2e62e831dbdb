"""Lying Content-Length headers and stalled clients, over raw sockets to a real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import blob_files, row_counts, temp_files
from tests.server.conftest import IDLE_TIMEOUT_S, LiveServer

pytestmark = pytest.mark.postgres

SOCKET_TIMEOUT_S = 30
# How long to wait for the server to finish cleaning up after a client left.
CLEANUP_WAIT_S = 20

BODY = b"0123456789" * 100
MULTIPART = (
    b"--b\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
    + BODY
    + b"\r\n--b--\r\n"
)


@contextlib.contextmanager
def connect(server: LiveServer) -> Iterator[socket.socket]:
    with socket.create_connection((server.host, server.port), timeout=SOCKET_TIMEOUT_S) as sock:
        yield sock


def request_head(content_type: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST /files HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


Response = tuple[int, dict[str, str], bytes]


def read_response(sock: socket.socket) -> Response:
    response = http.client.HTTPResponse(sock)
    response.begin()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, response.read()


async def wait_for_nothing_stored(engine: AsyncEngine, server: LiveServer) -> None:
    """Wait until no row, blob or temp file is left, failing after CLEANUP_WAIT_S."""
    for _ in range(CLEANUP_WAIT_S * 10):
        counts = await row_counts(engine)
        leftovers = temp_files(server.base_path) + blob_files(server.base_path)
        if not leftovers and counts["files"] == counts["blobs"] == counts["outbox"] == 0:
            return
        await asyncio.sleep(0.1)
    assert temp_files(server.base_path) == []
    assert blob_files(server.base_path) == []
    assert await row_counts(engine) == {"blobs": 0, "files": 0, "file_tags": 0, "outbox": 0}


async def test_stalled_body_gets_408_and_leaves_nothing(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    with connect(live_server) as sock:
        sock.sendall(request_head("text/plain", len(BODY) + 100) + BODY)

        status, headers, body = await asyncio.to_thread(read_response, sock)

    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == "request_timeout"
    assert f"for {IDLE_TIMEOUT_S} s" in json.loads(body)["detail"]
    await wait_for_nothing_stored(server_engine, live_server)


async def test_stalled_multipart_gets_408(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    head = request_head("multipart/form-data; boundary=b", len(MULTIPART))

    with connect(live_server) as sock:
        sock.sendall(head + MULTIPART[:200])
        status, _, body = await asyncio.to_thread(read_response, sock)

    assert status == 408
    assert json.loads(body)["code"] == "request_timeout"
    await wait_for_nothing_stored(server_engine, live_server)


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=b"])
async def test_long_length_then_close_leaves_nothing(
    live_server: LiveServer, server_engine: AsyncEngine, content_type: str
) -> None:
    payload = BODY if content_type == "text/plain" else MULTIPART

    with connect(live_server) as sock:
        sock.sendall(request_head(content_type, len(payload) * 2) + payload)
        sock.shutdown(socket.SHUT_WR)
        leftover = await asyncio.to_thread(sock.recv, 65536)

    # The server notices the disconnect and sends no response.
    assert leftover == b""
    await wait_for_nothing_stored(server_engine, live_server)


# With a Content-Length shorter than the body, the server takes the declared
# bytes as the request and parses the rest as the next one. uvicorn rejects
# that rest with a plain-text 400 and closes the connection, possibly before
# the application responds to the first request. Either way the upload must
# fail its own checks and leave nothing behind.


async def test_short_multipart_length_returns_400(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    head = request_head("multipart/form-data; boundary=b", len(MULTIPART) - 10)

    with connect(live_server) as sock:
        sock.sendall(head + MULTIPART)
        status, _, _ = await asyncio.to_thread(read_response, sock)

    assert status == 400
    await wait_for_nothing_stored(server_engine, live_server)


async def test_short_raw_length_fails_digest(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    head = request_head("text/plain", len(BODY) - 10, f"Content-Digest: sha-256=:{digest}:\r\n")

    with connect(live_server) as sock:
        sock.sendall(head + BODY)
        status, _, _ = await asyncio.to_thread(read_response, sock)

    assert status == 400
    await wait_for_nothing_stored(server_engine, live_server)


async def test_short_multipart_length_gets_problem(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    # Sent without the surplus bytes, the truncated multipart body reaches the
    # application, which names the problem.
    head = request_head("multipart/form-data; boundary=b", len(MULTIPART) - 10)

    with connect(live_server) as sock:
        sock.sendall(head + MULTIPART[:-10])
        status, _, body = await asyncio.to_thread(read_response, sock)

    assert status == 400
    assert json.loads(body)["detail"] == "multipart body ended before its closing boundary"
    await wait_for_nothing_stored(server_engine, live_server)


async def test_length_with_chunked_is_rejected(
    live_server: LiveServer, server_engine: AsyncEngine
) -> None:
    head = request_head("text/plain", len(BODY), "Transfer-Encoding: chunked\r\n")

    with connect(live_server) as sock:
        sock.sendall(head + f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n")
        status, _, _ = await asyncio.to_thread(read_response, sock)

    assert status == 400
    await wait_for_nothing_stored(server_engine, live_server)


async def test_server_still_serves_after_bad_clients(live_server: LiveServer) -> None:
    with connect(live_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, body = await asyncio.to_thread(read_response, sock)

    assert status == 200
    assert json.loads(body)["status"] == "ok"
