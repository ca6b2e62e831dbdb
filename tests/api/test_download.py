"""Ranges, conditional requests, caching and digest headers on GET and HEAD."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from blobstore.api.conditional import ByteRange, parse_range
from blobstore.config import Settings
from blobstore.errors import RangeNotSatisfiable
from tests.helpers import sha256, upload

DATA = bytes(range(256)) * 4  # 1024 bytes, each position recognisable.
SIZE = len(DATA)


def sha256_field(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@pytest.fixture
async def file_url(client: httpx.AsyncClient) -> str:
    created = await upload(client, DATA, filename="data.bin")
    return f"/files/{created.json()['key']}"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, SIZE),
        ("bytes=-100", SIZE - 100, SIZE),
        ("bytes=1000-5000", 1000, SIZE),
        ("bytes=-5000", 0, SIZE),
        ("bytes=1023-1023", 1023, SIZE),
        ("BYTES = 5 - 9", 5, 10),
    ],
    ids=["first-last", "open-ended", "suffix", "last-past-end", "suffix-longer", "last", "spaces"],
)
async def test_single_range_returns_206(
    client: httpx.AsyncClient, file_url: str, header: str, start: int, end: int
) -> None:
    response = await client.get(file_url, headers={"Range": header})

    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["repr-digest"] == sha256_field(DATA)
    assert "content-digest" not in response.headers


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
async def test_unsatisfiable_range_returns_416(
    client: httpx.AsyncClient, file_url: str, header: str
) -> None:
    response = await client.get(file_url, headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.json()["code"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "header",
    ["bytes=0-9,20-29", "items=0-9", "bytes=9-0", "bytes=abc", "bytes=-", "bytes=" + "9" * 5000],
    ids=["multiple", "other-unit", "reversed", "garbage", "dash-only", "huge-number"],
)
async def test_ignored_range_returns_whole_file(
    client: httpx.AsyncClient, file_url: str, header: str
) -> None:
    response = await client.get(file_url, headers={"Range": header})

    assert response.status_code == 200
    assert response.content == DATA
    assert "content-range" not in response.headers


async def test_head_ignores_range(client: httpx.AsyncClient, file_url: str) -> None:
    response = await client.head(file_url, headers={"Range": "bytes=0-9"})

    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)


async def test_range_on_empty_file(client: httpx.AsyncClient) -> None:
    url = f"/files/{(await upload(client, b'')).json()['key']}"

    suffix = await client.get(url, headers={"Range": "bytes=-10"})
    from_start = await client.get(url, headers={"Range": "bytes=0-"})

    assert suffix.status_code == 200
    assert suffix.content == b""
    assert from_start.status_code == 416
    assert from_start.headers["content-range"] == "bytes */0"


async def test_full_response_headers(client: httpx.AsyncClient, file_url: str) -> None:
    response = await client.get(file_url)

    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{sha256(DATA)}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["repr-digest"] == sha256_field(DATA)
    assert response.headers["content-digest"] == sha256_field(DATA)


async def test_head_carries_repr_digest_only(client: httpx.AsyncClient, file_url: str) -> None:
    response = await client.head(file_url)

    assert response.headers["repr-digest"] == sha256_field(DATA)
    assert "content-digest" not in response.headers


@pytest.mark.parametrize("form", ['"{}"', 'W/"{}"', '"other", "{}"', "*"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_none_match_returns_304(
    client: httpx.AsyncClient, file_url: str, form: str, method: str
) -> None:
    header = form.format(sha256(DATA))

    response = await client.request(method, file_url, headers={"If-None-Match": header})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{sha256(DATA)}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_if_none_match_other_etag_returns_200(
    client: httpx.AsyncClient, file_url: str
) -> None:
    response = await client.get(file_url, headers={"If-None-Match": '"0000"'})

    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize("header", ['"0000"', 'W/"{}"', "garbage"])
async def test_if_match_mismatch_returns_412(
    client: httpx.AsyncClient, file_url: str, header: str
) -> None:
    response = await client.get(file_url, headers={"If-Match": header.format(sha256(DATA))})

    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"


@pytest.mark.parametrize("form", ['"{}"', '"other", "{}"', "*"])
async def test_if_match_matching_returns_200(
    client: httpx.AsyncClient, file_url: str, form: str
) -> None:
    response = await client.get(file_url, headers={"If-Match": form.format(sha256(DATA))})

    assert response.status_code == 200


async def test_if_match_failure_wins_over_if_none_match(
    client: httpx.AsyncClient, file_url: str
) -> None:
    headers = {"If-Match": '"0000"', "If-None-Match": f'"{sha256(DATA)}"'}

    response = await client.get(file_url, headers=headers)

    assert response.status_code == 412


async def test_if_range_with_current_etag_applies_range(
    client: httpx.AsyncClient, file_url: str
) -> None:
    headers = {"Range": "bytes=0-9", "If-Range": f'"{sha256(DATA)}"'}

    response = await client.get(file_url, headers=headers)

    assert response.status_code == 206
    assert response.content == DATA[:10]


@pytest.mark.parametrize(
    "if_range", ['"0000"', 'W/"{}"', "Wed, 21 Oct 2015 07:28:00 GMT"], ids=["other", "weak", "date"]
)
async def test_if_range_not_matching_sends_whole_file(
    client: httpx.AsyncClient, file_url: str, if_range: str
) -> None:
    headers = {"Range": "bytes=0-9", "If-Range": if_range.format(sha256(DATA))}

    response = await client.get(file_url, headers=headers)

    assert response.status_code == 200
    assert response.content == DATA


async def test_if_range_not_matching_skips_416(client: httpx.AsyncClient, file_url: str) -> None:
    headers = {"Range": "bytes=99999-", "If-Range": '"0000"'}

    response = await client.get(file_url, headers=headers)

    assert response.status_code == 200


def test_parse_range_clamps_last_position() -> None:
    assert parse_range("bytes=10-99999", 50) == ByteRange(10, 50, 50)


def test_parse_range_zero_suffix_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range("bytes=-0", 50)

    assert caught.value.headers["Content-Range"] == "bytes */50"


@pytest.mark.parametrize(("header", "value"), [("If-Match", '"0000"'), ("If-None-Match", "*")])
async def test_delete_failed_precondition_412(
    client: httpx.AsyncClient, header: str, value: str
) -> None:
    created = await upload(client, b"conditional delete")
    url = f"/files/{created.json()['key']}"

    response = await client.delete(url, headers={header: value})

    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    assert (await client.get(url)).status_code == 200


async def test_delete_with_matching_if_match_deletes(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"conditional delete ok")
    url = f"/files/{created.json()['key']}"

    response = await client.delete(url, headers={"If-Match": f'"{created.json()["sha256"]}"'})

    assert response.status_code == 204
    assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("length", [SIZE // 2, SIZE + 1], ids=["cut", "grown"])
async def test_blob_of_wrong_size_is_500(
    client: httpx.AsyncClient, file_url: str, settings: Settings, method: str, length: int
) -> None:
    digest = sha256(DATA)
    blob = settings.file_base_path / digest[:2] / digest[2:4] / digest
    blob.write_bytes(DATA[:length] if length <= SIZE else DATA + b"!")

    response = await client.request(method, file_url)

    assert response.status_code == 500
    assert "etag" not in response.headers
    if method == "GET":
        assert response.json()["code"] == "storage_error"
