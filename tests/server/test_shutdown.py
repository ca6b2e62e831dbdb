"""SIGTERM on a real `blobstore serve`: uploads finish or leave nothing, and the exit is clean."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable

from tests.helpers import blob_files, temp_files
from tests.server.conftest import ServerProcess, wait_until

BODY_BYTES = 2 * 1024 * 1024
# More than the storage's 1 MiB write batch, so the temp file exists by then.
FIRST_PART_BYTES = 1280 * 1024
GUARD_S = 60


def open_upload(server: ServerProcess, size: int) -> socket.socket:
    """Start a raw-body upload of `size` bytes, sending only the request head."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD_S)
    head = (
        f"POST /files?filename=slow.bin HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\n"
        f"X-Request-ID: slow-upload\r\n\r\n"
    )
    connection.sendall(head.encode("ascii"))
    return connection


def read_response(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_in_flight_upload_finish(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={"SHUTDOWN_TIMEOUT_S": "60"})
    body = os.urandom(BODY_BYTES)
    with open_upload(server, len(body)) as connection:
        connection.sendall(body[:FIRST_PART_BYTES])
        wait_until(lambda: bool(temp_files(server.data_path)), GUARD_S, "the upload's temp file")

        server.process.terminate()
        wait_until(lambda: refuses_connections(server.port), GUARD_S, "the listener to close")
        connection.sendall(body[FIRST_PART_BYTES:])
        response = read_response(connection)
    status = server.process.wait(timeout=GUARD_S)

    assert response.startswith(b"HTTP/1.1 201 ")
    assert status == 0
    assert temp_files(server.data_path) == []
    assert [p.name for p in blob_files(server.data_path)] == [hashlib.sha256(body).hexdigest()]


def test_sigterm_after_timeout_removes_stalled_upload(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={"SHUTDOWN_TIMEOUT_S": "1"})
    with open_upload(server, BODY_BYTES) as connection:
        connection.sendall(os.urandom(FIRST_PART_BYTES))
        wait_until(lambda: bool(temp_files(server.data_path)), GUARD_S, "the upload's temp file")

        status = server.stop()

    messages = [line["message"] for line in server.json_lines()]
    assert status == 0
    assert temp_files(server.data_path) == []
    assert blob_files(server.data_path) == []
    assert any("timeout graceful shutdown exceeded" in m for m in messages)
    assert "stopped: database connections closed" in messages
