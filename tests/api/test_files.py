"""Upload, fetch, HEAD and DELETE through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from tests.conftest import FIXTURES
from tests.helpers import blob_files, outbox_rows, row_counts, sha256, temp_files, upload

REAL_FILES = [
    ("document.pdf", "application/pdf"),
    ("gradient.png", "image/png"),
    ("page.html", "text/html"),
]


def bearer(claims: dict[str, object], alg: str = "HS256") -> dict[str, str]:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("name", "content_type"), REAL_FILES)
async def test_real_file_round_trips(
    client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    data = (FIXTURES / name).read_bytes()

    created = await upload(client, data, filename=name, content_type=content_type)
    fetched = await client.get(f"/files/{created.json()['key']}")

    assert created.status_code == 201
    assert created.json()["sha256"] == sha256(data)
    assert created.json()["size"] == len(data)
    assert created.json()["filename"] == name
    assert created.json()["content_type"] == content_type
    assert created.json()["deduplicated"] is False
    assert created.headers["location"] == created.json()["url"]
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == content_type
    assert fetched.headers["etag"] == f'"{sha256(data)}"'
    assert fetched.headers["content-length"] == str(len(data))
    assert name in fetched.headers["content-disposition"]


async def test_empty_file_round_trips(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"", filename="empty.txt", content_type="text/plain")
    fetched = await client.get(f"/files/{created.json()['key']}")

    assert created.status_code == 201
    assert created.json()["size"] == 0
    assert created.json()["sha256"] == sha256(b"")
    assert fetched.status_code == 200
    assert fetched.content == b""


async def test_url_fetches_the_file(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"by url")

    fetched = await client.get(created.json()["url"])

    assert created.json()["url"].startswith("http://testserver/files/")
    assert fetched.content == b"by url"


async def test_v1_prefix_serves_the_same_api(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/files", files={"file": ("a.txt", b"v1", "text/plain")})

    fetched = await client.get(f"/v1/files/{created.json()['key']}")

    assert created.status_code == 201
    assert fetched.content == b"v1"


async def test_head_returns_headers_without_body(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"head me", content_type="text/plain")

    response = await client.head(f"/files/{created.json()['key']}")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "7"
    assert response.headers["etag"] == f'"{sha256(b"head me")}"'


async def test_meta_returns_the_upload_fields(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"meta", filename="m.txt", tags=["Alpha", "beta,gamma"])

    meta = await client.get(f"/files/{created.json()['key']}/meta")

    assert meta.status_code == 200
    assert meta.json()["tags"] == ["alpha", "beta", "gamma"]
    assert meta.json()["sha256"] == sha256(b"meta")
    assert meta.json()["filename"] == "m.txt"
    assert meta.json()["user_id"] == "anonymous"
    assert meta.json()["created_at"] == created.json()["created_at"]


async def test_same_bytes_twice_give_two_keys_one_blob(
    client: httpx.AsyncClient, settings: Settings, engine: AsyncEngine
) -> None:
    first = await upload(client, b"same bytes")
    second = await upload(client, b"same bytes")

    assert first.json()["key"] != second.json()["key"]
    assert first.json()["deduplicated"] is False
    assert second.json()["deduplicated"] is True
    assert len(blob_files(settings.file_base_path)) == 1
    counts = await row_counts(engine)
    assert counts["blobs"] == 1
    assert counts["files"] == 2


async def test_concurrent_uploads_of_same_bytes_share_one_blob(
    client: httpx.AsyncClient, settings: Settings, engine: AsyncEngine
) -> None:
    data = b"concurrent" * 10_000

    responses = await asyncio.gather(*(upload(client, data) for _ in range(20)))

    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["key"] for r in responses}) == 20
    assert sum(not r.json()["deduplicated"] for r in responses) == 1
    assert len(blob_files(settings.file_base_path)) == 1
    assert temp_files(settings.file_base_path) == []
    counts = await row_counts(engine)
    assert counts["blobs"] == 1
    assert counts["files"] == 20


async def test_delete_one_of_two_keys_keeps_the_other(client: httpx.AsyncClient) -> None:
    first = await upload(client, b"shared content")
    second = await upload(client, b"shared content")

    deleted = await client.delete(f"/files/{first.json()['key']}")

    assert deleted.status_code == 204
    assert (await client.get(f"/files/{first.json()['key']}")).status_code == 404
    remaining = await client.get(f"/files/{second.json()['key']}")
    assert remaining.status_code == 200
    assert remaining.content == b"shared content"


async def test_read_then_delete_is_not_served_from_cache(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"cached then deleted")
    url = f"/files/{created.json()['key']}"
    first = await client.get(url)

    await client.delete(url)
    after = await client.get(url)

    assert first.status_code == 200
    assert after.status_code == 404


async def test_upload_writes_one_file_stored_outbox_row(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    created = await upload(client, b"event", tags=["t1"], headers=bearer({"sub": "alice"}))

    rows = await outbox_rows(engine)

    assert len(rows) == 1
    row = rows[0]
    assert row["event_type"] == "file_stored"
    assert row["topic"] == settings.kafka_topic
    assert row["message_key"] == created.json()["key"]
    assert row["published_at"] is None
    payload = row["payload"]
    assert set(payload) >= {"key", "meta", "timestamp"}
    assert payload["key"] == created.json()["key"]
    assert payload["meta"] == {
        "user_id": "alice",
        "tags": ["t1"],
        "sha256": sha256(b"event"),
        "created_at": created.json()["created_at"],
    }
    assert payload["timestamp"].endswith("Z")
    assert payload["event_id"] == str(row["event_id"])
    assert payload["size"] == 5
    assert payload["url"] == created.json()["url"]


async def test_delete_writes_file_deleted_outbox_row(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    created = await upload(client, b"to delete", tags=["gone"])

    await client.delete(f"/files/{created.json()['key']}")
    rows = await outbox_rows(engine)

    assert [row["event_type"] for row in rows] == ["file_stored", "file_deleted"]
    deleted = rows[1]
    assert deleted["topic"] == settings.kafka_deleted_topic
    assert deleted["message_key"] == created.json()["key"]
    assert deleted["payload"]["key"] == created.json()["key"]
    assert deleted["payload"]["meta"]["sha256"] == sha256(b"to delete")
    assert deleted["payload"]["meta"]["tags"] == ["gone"]
    counts = await row_counts(engine)
    assert counts["files"] == 0
    assert counts["file_tags"] == 0
    assert counts["blobs"] == 1


async def test_user_comes_from_token_sub(client: httpx.AsyncClient) -> None:
    created = await upload(client, b"mine", headers=bearer({"sub": "user-42"}))

    assert created.status_code == 201
    assert created.json()["user_id"] == "user-42"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Authorization": "Bearer not-a-jwt"}, "not a valid JWT"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer <token>"),
        (bearer({"sub": "eve"}, alg="none"), "unsigned"),
        (bearer({"name": "no subject"}), "'sub' claim"),
    ],
)
async def test_bad_token_returns_401(
    client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str], reason: str
) -> None:
    response = await upload(client, b"x", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="blobstore", error="invalid_token", error_description="'
    )
    assert response.json()["code"] == "invalid_token"
    assert reason in response.json()["detail"]
    assert (await row_counts(engine))["files"] == 0


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
async def test_unknown_key_returns_404(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, f"/files/{uuid.uuid4()}")

    assert response.status_code == 404
    if method != "HEAD":
        assert response.json()["code"] == "file_not_found"
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("key", ["not-a-uuid", "1234", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
async def test_malformed_key_returns_400(client: httpx.AsyncClient, method: str, key: str) -> None:
    response = await client.request(method, f"/files/{key}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_key"
    assert "is not a UUID" in response.json()["detail"]


async def test_key_with_path_separators_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/files/..%2F..%2Fetc%2Fpasswd")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_raw_body_upload_streams_the_file(client: httpx.AsyncClient) -> None:
    data = (FIXTURES / "gradient.png").read_bytes()

    created = await client.post(
        "/files",
        content=data,
        params={"filename": "raw.png", "tags": ["raw"]},
        headers={"Content-Type": "image/png"},
    )
    fetched = await client.get(f"/files/{created.json()['key']}")

    assert created.status_code == 201
    assert created.json()["filename"] == "raw.png"
    assert created.json()["content_type"] == "image/png"
    assert created.json()["tags"] == ["raw"]
    assert fetched.content == data


async def test_filename_keeps_only_last_path_component(client: httpx.AsyncClient) -> None:
    # Built by hand: httpx would percent-encode the control character itself.
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="../..\\etc/pass\x07wd"\r\n'
        b"\r\nx\r\n--b--\r\n"
    )
    created = await client.post(
        "/files", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )

    assert created.json()["filename"] == "passwd"


async def test_invalid_tag_returns_400_naming_it(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    response = await upload(client, b"tagged", tags=["ok", "bad tag!"])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "'bad tag!'" in response.json()["detail"]
    assert (await row_counts(engine))["files"] == 0
    assert blob_files(settings.file_base_path) == []
    assert temp_files(settings.file_base_path) == []
