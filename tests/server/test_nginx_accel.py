"""deploy/nginx/blobstore.conf in front of a real `blobstore serve` in the X-Accel-Redirect mode.

nginx is the binary that NGINX_BINARY names; scripts/test installs it when it
is missing, so the module skips only outside scripts/test.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.nginx import accel_servers, nginx_command
from tests.server.conftest import START_GUARD_S, STOP_GUARD_S, ServerProcess, wait_until
from tests.tcp import free_port

PREFIX = "/_blobstore_blobs/"
# Several MiB, so nginx sends the body in more than one sendfile call.
DATA = os.urandom(3 * 1024 * 1024 + 123)
SIZE = len(DATA)
DIGEST = hashlib.sha256(DATA).hexdigest()
ETAG = f'"{DIGEST}"'
REDIRECT = f"{PREFIX}{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
# Headers that the shipped config must pass on exactly once.
SINGLE_HEADERS = (
    "etag",
    "repr-digest",
    "cache-control",
    "content-type",
    "content-disposition",
    "x-content-type-options",
    "content-security-policy",
    "x-request-id",
)


@dataclass
class Stack:
    nginx_url: str
    blobstore: ServerProcess
    key: str

    @property
    def file_url(self) -> str:
        return f"{self.nginx_url}/files/{self.key}"


def _listens(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = os.environ.get("NGINX_BINARY")
    if not binary:
        pytest.skip("NGINX_BINARY names no nginx; run the suite with scripts/test")
    return binary


@pytest.fixture
def stack(
    nginx_binary: str, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> Iterator[Stack]:
    blobstore = start_server(env={"ACCEL_REDIRECT_PREFIX": PREFIX})
    port = free_port()
    servers = accel_servers(port, blobstore.port, blobstore.data_path)
    command = nginx_command(nginx_binary, tmp_path / "nginx", servers)
    log = tmp_path / "nginx-output.log"
    with log.open("wb") as output:
        nginx = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    nginx_url = f"http://127.0.0.1:{port}"

    try:
        wait_until(
            lambda: nginx.poll() is not None or _listens(nginx_url),
            START_GUARD_S,
            f"nginx on port {port}",
        )
        if nginx.poll() is not None:
            error_log = (tmp_path / "nginx" / "error.log").read_text(errors="replace")
            raise AssertionError(f"nginx exited with {nginx.returncode}:\n{error_log}")

        # The upload goes through nginx too, as it would in production.
        created = httpx.post(
            f"{nginx_url}/files",
            files={"file": ("data.bin", DATA, "application/octet-stream")},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        yield Stack(nginx_url, blobstore, created.json()["key"])
    finally:
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(timeout=STOP_GUARD_S)


def assert_single_headers(response: httpx.Response) -> None:
    for name in SINGLE_HEADERS:
        assert len(response.headers.get_list(name)) == 1, (name, response.headers)
    assert "x-accel-redirect" not in response.headers
    assert "last-modified" not in response.headers


def test_blobstore_alone_sends_redirect_and_empty_body(stack: Stack) -> None:
    response = httpx.get(f"{stack.blobstore.base_url}/files/{stack.key}", timeout=60)

    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == REDIRECT
    assert response.content == b""


def test_download_through_nginx_sends_the_blob(stack: Stack) -> None:
    response = httpx.get(stack.file_url, timeout=60)

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == DIGEST
    assert response.headers["content-length"] == str(SIZE)
    assert_single_headers(response)
    assert response.headers["etag"] == ETAG
    assert response.headers.get_list("content-digest") == [response.headers["repr-digest"]]
    assert response.headers.get_list("accept-ranges") == ["bytes"]
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_download_by_digest_through_nginx(stack: Stack) -> None:
    response = httpx.get(f"{stack.nginx_url}/blobs/{DIGEST}", timeout=60)

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == DIGEST


def test_request_id_is_passed_on(stack: Stack) -> None:
    response = httpx.get(stack.file_url, headers={"X-Request-ID": "accel-test-1"}, timeout=60)

    assert response.headers.get_list("x-request-id") == ["accel-test-1"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000000-", 1000000, SIZE),
        ("bytes=-5000", SIZE - 5000, SIZE),
        ("bytes=100-99999999", 100, SIZE),
    ],
    ids=["first-last", "open-ended", "suffix", "last-past-end"],
)
def test_range_through_nginx_returns_206(stack: Stack, header: str, start: int, end: int) -> None:
    response = httpx.get(stack.file_url, headers={"Range": header}, timeout=60)

    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert_single_headers(response)
    assert response.headers.get_list("accept-ranges") == ["bytes"]
    assert "content-digest" not in response.headers


def test_range_with_matching_if_range_returns_206(stack: Stack) -> None:
    headers = {"Range": "bytes=10-19", "If-Range": ETAG}

    response = httpx.get(stack.file_url, headers=headers, timeout=60)

    assert response.status_code == 206
    assert response.content == DATA[10:20]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"If-Match": ETAG}, 200, DATA),
        ({"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, DATA),
        ({"Range": "bytes=0-9,20-29"}, 200, DATA),
        ({"Range": "bytes=0-9", "If-Range": '"other"'}, 200, DATA),
        ({"If-None-Match": '"other"', "Range": "bytes=0-9"}, 206, DATA[:10]),
    ],
    ids=["if-match", "if-unmodified-since", "multi-range", "if-range-other", "if-none-match"],
)
def test_conditional_request_gets_service_response(
    stack: Stack, headers: dict[str, str], status: int, body: bytes
) -> None:
    response = httpx.get(stack.file_url, headers=headers, timeout=60)

    assert response.status_code == status
    assert response.content == body
    assert_single_headers(response)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": ETAG}, 304),
        ({"If-Match": '"other"'}, 412),
        ({"Range": f"bytes={SIZE}-"}, 416),
    ],
    ids=["not-modified", "precondition-failed", "unsatisfiable"],
)
def test_failed_condition_gets_service_status(
    stack: Stack, headers: dict[str, str], status: int
) -> None:
    response = httpx.get(stack.file_url, headers=headers, timeout=60)

    assert response.status_code == status
    assert response.headers.get_list("etag") == ([ETAG] if status == 304 else [])


def test_head_through_nginx_sends_length_only(stack: Stack) -> None:
    response = httpx.head(stack.file_url, timeout=60)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert response.content == b""


def test_unknown_key_through_nginx_is_404(stack: Stack) -> None:
    response = httpx.get(f"{stack.nginx_url}/files/00000000-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"


def test_internal_location_is_404_to_clients(stack: Stack) -> None:
    response = httpx.get(f"{stack.nginx_url}{REDIRECT}", timeout=60)

    assert response.status_code == 404
    assert DATA[:64] not in response.content
