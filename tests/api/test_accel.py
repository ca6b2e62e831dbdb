"""The X-Accel-Redirect mode: which GETs are handed to nginx, and what the service sends itself."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from tests.helpers import app_client, sha256, upload
from tests.tokens import ADMIN_AUTH, as_user

PREFIX = "/_blobstore_blobs/"
DATA = bytes(range(256)) * 4
SIZE = len(DATA)
DIGEST = sha256(DATA)
ETAG = f'"{DIGEST}"'
REDIRECT = f"{PREFIX}{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
ALICE = as_user("alice")
BOB = as_user("bob")


@pytest.fixture
async def accel_client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(replace(settings, accel_redirect_prefix=PREFIX)) as client:
        yield client


@pytest.fixture
async def file_url(accel_client: httpx.AsyncClient) -> str:
    created = await upload(accel_client, DATA, filename="data.bin")
    return f"/files/{created.json()['key']}"


async def test_plain_get_redirects_with_empty_body(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url)

    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == REDIRECT
    assert response.content == b""
    assert response.headers["etag"] == ETAG
    assert response.headers["repr-digest"] == response.headers["content-digest"]
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    # nginx's static handler adds Accept-Ranges to a whole file itself.
    assert "accept-ranges" not in response.headers


@pytest.mark.parametrize(
    "header",
    ["bytes=0-99", "bytes=100-", "bytes=-100", "bytes=1000-5000"],
    ids=["first-last", "open-ended", "suffix", "last-past-end"],
)
async def test_single_range_redirects_without_content_range(
    accel_client: httpx.AsyncClient, file_url: str, header: str
) -> None:
    response = await accel_client.get(file_url, headers={"Range": header})

    # nginx turns the empty 200 into the 206 and writes Content-Range itself.
    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == REDIRECT
    assert response.content == b""
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-range" not in response.headers
    assert "content-digest" not in response.headers
    assert response.headers["etag"] == ETAG


async def test_range_with_matching_if_range_redirects(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url, headers={"Range": "bytes=0-9", "If-Range": ETAG})

    assert response.headers["x-accel-redirect"] == REDIRECT


async def test_get_of_blob_by_digest_redirects(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(f"/blobs/{DIGEST}")

    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == REDIRECT
    assert response.content == b""


async def test_head_is_served_by_service(accel_client: httpx.AsyncClient, file_url: str) -> None:
    response = await accel_client.head(file_url)

    assert response.status_code == 200
    assert "x-accel-redirect" not in response.headers
    assert response.headers["content-length"] == str(SIZE)


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"If-Match": ETAG}, 200, DATA),
        ({"If-Match": ETAG, "Range": "bytes=0-9"}, 206, DATA[:10]),
        ({"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, DATA),
        ({"Range": "bytes=0-9,20-29"}, 200, DATA),
        ({"Range": "items=0-9"}, 200, DATA),
        ({"Range": "bytes=9-0"}, 200, DATA),
        ({"Range": "bytes=0-" + "9" * 19}, 206, DATA),
        ({"Range": "BYTES = 5 - 9"}, 206, DATA[5:10]),
        ({"Range": "bytes=0-9", "If-Range": '"other"'}, 200, DATA),
        ({"Range": "bytes=0-9", "If-Range": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, DATA),
    ],
    ids=[
        "if-match",
        "if-match-range",
        "if-unmodified-since",
        "multi-range",
        "other-unit",
        "reversed",
        "number-too-long-for-nginx",
        "spaces",
        "if-range-other-etag",
        "if-range-date",
    ],
)
async def test_nginx_disagreement_is_streamed(
    accel_client: httpx.AsyncClient,
    file_url: str,
    headers: dict[str, str],
    status: int,
    body: bytes,
) -> None:
    response = await accel_client.get(file_url, headers=headers)

    assert response.status_code == status
    assert "x-accel-redirect" not in response.headers
    assert response.content == body


async def test_matching_if_none_match_gets_304_from_service(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url, headers={"If-None-Match": ETAG})

    assert response.status_code == 304
    assert "x-accel-redirect" not in response.headers
    assert response.headers["etag"] == ETAG


async def test_other_if_none_match_redirects(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url, headers={"If-None-Match": '"other"'})

    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == REDIRECT


async def test_failed_if_match_gets_412_from_service(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url, headers={"If-Match": '"other"'})

    assert response.status_code == 412
    assert "x-accel-redirect" not in response.headers
    assert response.json()["code"] == "precondition_failed"


async def test_unsatisfiable_range_gets_416_from_service(
    accel_client: httpx.AsyncClient, file_url: str
) -> None:
    response = await accel_client.get(file_url, headers={"Range": f"bytes={SIZE}-"})

    assert response.status_code == 416
    assert "x-accel-redirect" not in response.headers
    assert response.headers["content-range"] == f"bytes */{SIZE}"


async def test_unknown_key_gets_404_without_redirect(accel_client: httpx.AsyncClient) -> None:
    response = await accel_client.get("/files/00000000-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert "x-accel-redirect" not in response.headers
    assert response.json()["code"] == "file_not_found"


async def test_missing_blob_is_500_not_redirect(
    accel_client: httpx.AsyncClient, file_url: str, settings: Settings
) -> None:
    blob = settings.file_base_path / DIGEST[:2] / DIGEST[2:4] / DIGEST
    blob.unlink()

    response = await accel_client.get(file_url)

    assert response.status_code == 500
    assert "x-accel-redirect" not in response.headers


@pytest.fixture
async def owner_accel_client(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    owner_only = replace(
        settings, auth=ADMIN_AUTH, file_read_access="owner", accel_redirect_prefix=PREFIX
    )
    async with app_client(owner_only) as client:
        yield client


async def test_owner_read_redirects_only_for_owner(
    owner_accel_client: httpx.AsyncClient,
) -> None:
    key = (await upload(owner_accel_client, DATA, headers=ALICE)).json()["key"]

    owner = await owner_accel_client.get(f"/files/{key}", headers=ALICE)
    other = await owner_accel_client.get(f"/files/{key}", headers=BOB)
    anonymous = await owner_accel_client.get(f"/files/{key}")
    by_digest = await owner_accel_client.get(f"/blobs/{DIGEST}", headers=BOB)

    assert owner.headers["x-accel-redirect"] == REDIRECT
    assert owner.headers["cache-control"] == "private, no-cache"
    assert other.status_code == 404
    assert "x-accel-redirect" not in other.headers
    assert anonymous.status_code == 404
    assert "x-accel-redirect" not in anonymous.headers
    assert by_digest.status_code == 404
    assert "x-accel-redirect" not in by_digest.headers


async def test_without_prefix_get_streams_the_bytes(client: httpx.AsyncClient) -> None:
    key = (await upload(client, DATA)).json()["key"]

    response = await client.get(f"/files/{key}")

    assert "x-accel-redirect" not in response.headers
    assert hashlib.sha256(response.content).hexdigest() == DIGEST
