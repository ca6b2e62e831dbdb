"""GET /files listings and HEAD/GET /blobs/{sha256}, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.api.lookup import decode_cursor, encode_cursor
from blobstore.db.lookup import PagePosition
from blobstore.db.models import files
from tests.api.test_files import bearer
from tests.helpers import sha256, upload
from tests.tokens import as_user

ALICE = bearer({"sub": "alice"})
BOB = bearer({"sub": "bob"})
ADMIN = as_user("root", "admin")


async def upload_as(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    tags: list[str] | None = None,
    content_type: str = "application/octet-stream",
) -> str:
    response = await upload(client, data, tags=tags, headers=headers, content_type=content_type)
    assert response.status_code == 201
    key: str = response.json()["key"]
    return key


async def set_created_at(engine: AsyncEngine, key: str, moment: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(files).where(files.c.key == uuid.UUID(key)).values(created_at=moment)
        )


def raw_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


async def list_keys(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str | list[str]
) -> list[str]:
    response = await client.get("/files", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["key"] for item in response.json()["items"]]


async def test_listing_returns_own_files_newest_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    keys = [await upload_as(client, ALICE, f"file {i}".encode()) for i in range(3)]
    for offset, key in enumerate(keys):
        await set_created_at(engine, key, start + timedelta(minutes=offset))
    await upload_as(client, BOB, b"bob's file")

    response = await client.get("/files", headers=ALICE)

    assert response.status_code == 200
    body = response.json()
    assert [item["key"] for item in body["items"]] == list(reversed(keys))
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["sha256"] == sha256(b"file 2")
    assert first["user_id"] == "alice"
    assert first["created_at"] == "2026-03-01T00:02:00.000000Z"
    assert first["url"] == f"http://testserver/files/{keys[2]}"


async def test_listing_under_v1_matches_root(client: httpx.AsyncClient) -> None:
    key = await upload_as(client, ALICE, b"versioned")

    response = await client.get("/v1/files", headers=ALICE)

    assert response.status_code == 200
    assert [item["key"] for item in response.json()["items"]] == [key]


async def test_listing_own_user_id_filter_is_allowed(client: httpx.AsyncClient) -> None:
    key = await upload_as(client, ALICE, b"mine")

    assert await list_keys(client, ALICE, user_id="alice") == [key]


async def test_listing_other_user_id_returns_403(client: httpx.AsyncClient) -> None:
    await upload_as(client, BOB, b"bob's")

    response = await client.get("/files", params={"user_id": "bob"}, headers=ALICE)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "'bob'" in response.json()["detail"]


async def test_listing_filters_by_sha256(client: httpx.AsyncClient) -> None:
    needle = await upload_as(client, ALICE, b"needle")
    await upload_as(client, ALICE, b"haystack")
    await upload_as(client, BOB, b"needle")

    keys = await list_keys(client, ALICE, sha256=sha256(b"needle").upper())

    assert keys == [needle]


async def test_listing_tags_must_all_match(client: httpx.AsyncClient) -> None:
    both = await upload_as(client, ALICE, b"a", tags=["invoice", "2026"])
    await upload_as(client, ALICE, b"b", tags=["invoice"])
    await upload_as(client, ALICE, b"c", tags=["2026"])
    await upload_as(client, BOB, b"d", tags=["invoice", "2026"])

    assert await list_keys(client, ALICE, tag=["Invoice", " 2026 "]) == [both]
    assert await list_keys(client, ALICE, tag="invoice,2026") == [both]
    assert len(await list_keys(client, ALICE, tag="invoice")) == 2
    assert await list_keys(client, ALICE, tag=["invoice", "missing"]) == []


async def test_listing_content_type_matches_with_and_without_parameters(
    client: httpx.AsyncClient,
) -> None:
    plain = await upload_as(client, ALICE, b"p", content_type="text/plain")
    utf8 = await upload_as(client, ALICE, b"u", content_type="text/plain; charset=utf-8")
    await upload_as(client, ALICE, b"h", content_type="text/html")
    await upload_as(client, ALICE, b"x", content_type="text/plainx")

    assert set(await list_keys(client, ALICE, content_type="TEXT/Plain")) == {plain, utf8}
    assert await list_keys(client, ALICE, content_type="text/plain; charset=utf-8") == [utf8]


async def test_listing_time_bounds_are_exclusive(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    base = datetime(2026, 5, 1, 12, tzinfo=UTC)
    keys = [await upload_as(client, ALICE, f"t{i}".encode()) for i in range(4)]
    for day, key in enumerate(keys):
        await set_created_at(engine, key, base + timedelta(days=day))

    keys_between = await list_keys(
        client,
        ALICE,
        created_after="2026-05-01T12:00:00Z",
        created_before="2026-05-04T12:00:00+00:00",
    )
    keys_after_naive = await list_keys(client, ALICE, created_after="2026-05-02T12:00:01")
    keys_before_date = await list_keys(client, ALICE, created_before="2026-05-02")

    assert keys_between == [keys[2], keys[1]]
    assert keys_after_naive == [keys[3], keys[2]]
    assert keys_before_date == [keys[0]]


async def test_listing_time_bounds_past_utc_range(client: httpx.AsyncClient) -> None:
    key = await upload_as(client, ALICE, b"now")
    # In UTC these lie before year 1 and after year 9999, which datetime cannot hold.
    earliest = "0001-01-01T00:00:00+01:00"
    latest = "9999-12-31T23:59:59-01:00"

    after_earliest = await list_keys(client, ALICE, created_after=earliest)
    before_latest = await list_keys(client, ALICE, created_before=latest)
    before_earliest = await list_keys(client, ALICE, created_before=earliest)

    assert after_earliest == [key]
    assert before_latest == [key]
    assert before_earliest == []


async def test_listing_pages_return_every_file_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    same_moment = datetime(2026, 6, 1, tzinfo=UTC)
    keys = [await upload_as(client, ALICE, f"page {i}".encode()) for i in range(7)]
    # Equal times leave the order to the key, the case a time-only cursor gets wrong.
    for key in keys[:4]:
        await set_created_at(engine, key, same_moment)
    expected = await list_keys(client, ALICE, limit="1000")

    seen: list[str] = []
    cursors: list[str | None] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        body = (await client.get("/files", params=params, headers=ALICE)).json()
        seen += [item["key"] for item in body["items"]]
        cursors.append(body["next_cursor"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]

    assert seen == expected
    assert sorted(seen) == sorted(keys)
    assert len(cursors) == 3
    assert cursors[-1] is None


async def test_listing_last_full_page_has_no_cursor(client: httpx.AsyncClient) -> None:
    for i in range(4):
        await upload_as(client, ALICE, f"exact {i}".encode())

    first = (await client.get("/files", params={"limit": "2"}, headers=ALICE)).json()
    second = (
        await client.get(
            "/files", params={"limit": "2", "cursor": first["next_cursor"]}, headers=ALICE
        )
    ).json()

    assert first["next_cursor"] is not None
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_cursor_round_trips() -> None:
    position = PagePosition(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())

    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ["5", "6"]}, "'limit'"),
        ({"sha256": "abc"}, "sha256"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        (
            {"cursor": raw_cursor({"created_at": "2026-01-01T00:00:00", "key": str(uuid.uuid4())})},
            "cursor",
        ),
        ({"cursor": raw_cursor({"created_at": "2026-01-01T00:00:00Z", "key": "k"})}, "cursor"),
        ({"cursor": raw_cursor(["not", "an", "object"])}, "cursor"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-01"}, "created_before"),
        ({"tag": "bad tag!"}, "'bad tag!'"),
        ({"content_type": "no slash"}, "content_type"),
        ({"content_type": ""}, "content_type"),
        ({"user_id": ""}, "user_id"),
        ({"tags": "typo"}, "'tags'"),
    ],
)
async def test_listing_invalid_parameter_returns_400_naming_it(
    client: httpx.AsyncClient, params: dict[str, str | list[str]], named: str
) -> None:
    response = await client.get("/files", params=params, headers=ALICE)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert named in response.json()["detail"]


async def test_blob_head_and_get_serve_own_content(client: httpx.AsyncClient) -> None:
    data = b"content I stored"
    await upload_as(client, ALICE, data)

    head = await client.head(f"/blobs/{sha256(data)}", headers=ALICE)
    fetched = await client.get(f"/v1/blobs/{sha256(data).upper()}", headers=ALICE)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == f'"{sha256(data)}"'
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["cache-control"] == "private, no-cache"
    assert fetched.headers["content-disposition"] == f'attachment; filename="{sha256(data)}"'
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-security-policy"] == "sandbox"


async def test_blob_serves_ranges_and_revalidation(client: httpx.AsyncClient) -> None:
    data = b"0123456789"
    await upload_as(client, ALICE, data)
    url = f"/blobs/{sha256(data)}"

    ranged = await client.get(url, headers={**ALICE, "Range": "bytes=2-4"})
    cached = await client.get(url, headers={**ALICE, "If-None-Match": f'"{sha256(data)}"'})

    assert ranged.status_code == 206
    assert ranged.content == b"234"
    assert ranged.headers["content-range"] == "bytes 2-4/10"
    assert cached.status_code == 304
    assert cached.content == b""


async def test_blob_of_other_user_looks_unstored(client: httpx.AsyncClient) -> None:
    theirs = b"only bob has this"
    await upload_as(client, BOB, theirs)

    other = await client.get(f"/blobs/{sha256(theirs)}", headers=ALICE)
    unknown = await client.get(f"/blobs/{sha256(b'nobody has this')}", headers=ALICE)
    head = await client.head(f"/blobs/{sha256(theirs)}", headers=ALICE)

    assert other.status_code == 404
    assert unknown.status_code == 404
    assert head.status_code == 404
    assert other.json()["code"] == unknown.json()["code"] == "blob_not_found"
    assert other.json()["detail"].replace(sha256(theirs), "X") == unknown.json()["detail"].replace(
        sha256(b"nobody has this"), "X"
    )


async def test_blob_of_deleted_file_is_not_found(client: httpx.AsyncClient) -> None:
    key = await upload_as(client, ALICE, b"deleted soon")
    await client.delete(f"/files/{key}", headers=ALICE)

    response = await client.head(f"/blobs/{sha256(b'deleted soon')}", headers=ALICE)

    assert response.status_code == 404


async def test_admin_lists_every_users_files(public_client: httpx.AsyncClient) -> None:
    alice = await upload_as(public_client, ALICE, b"alice's")
    bob = await upload_as(public_client, BOB, b"bob's")

    everyone = await list_keys(public_client, ADMIN)
    only_bob = await list_keys(public_client, ADMIN, user_id="bob")

    assert sorted(everyone) == sorted([alice, bob])
    assert only_bob == [bob]


async def test_non_admin_role_lists_only_own_files(public_client: httpx.AsyncClient) -> None:
    alice = await upload_as(public_client, ALICE, b"alice's")
    await upload_as(public_client, BOB, b"bob's")
    editor = as_user("alice", "editor")

    own = await list_keys(public_client, editor)
    other = await public_client.get("/files", params={"user_id": "bob"}, headers=editor)

    assert own == [alice]
    assert other.status_code == 403


async def test_admin_finds_blob_of_any_user(public_client: httpx.AsyncClient) -> None:
    data = b"only bob has this"
    await upload_as(public_client, BOB, data)

    head = await public_client.head(f"/blobs/{sha256(data)}", headers=ADMIN)
    fetched = await public_client.get(f"/blobs/{sha256(data)}", headers=ADMIN)
    as_alice = await public_client.head(f"/blobs/{sha256(data)}", headers=ALICE)

    assert head.status_code == 200
    assert fetched.content == data
    assert as_alice.status_code == 404


async def test_admin_blob_lookup_of_unstored_content_is_404(
    public_client: httpx.AsyncClient,
) -> None:
    response = await public_client.get(f"/blobs/{sha256(b'nobody has this')}", headers=ADMIN)

    assert response.status_code == 404
    assert response.json()["code"] == "blob_not_found"


async def test_blob_invalid_digest_returns_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/blobs/not-a-digest", headers=ALICE)

    assert response.status_code == 400
    assert "sha256" in response.json()["detail"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_paging_during_inserts_is_stable(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    base = datetime(2026, 7, 1, tzinfo=UTC)
    initial = [await upload_as(client, ALICE, f"initial {i}".encode()) for i in range(60)]
    for i, key in enumerate(initial):
        # Pairs share a time, so the key alone orders them.
        await set_created_at(engine, key, base + timedelta(minutes=i // 2))
    stop = asyncio.Event()

    async def insert_new_files() -> int:
        count = 0
        while not stop.is_set():
            await upload_as(client, ALICE, f"concurrent {count}".encode())
            count += 1
        return count

    async def insert_late_commits() -> int:
        # An upload takes its created_at before its transaction commits, so a
        # slow one becomes visible with a time older than rows already listed.
        count = 0
        while not stop.is_set():
            key = await upload_as(client, ALICE, f"late {count}".encode())
            await set_created_at(engine, key, base + timedelta(minutes=count % 30, seconds=1))
            count += 1
        return count

    async def page_through() -> list[dict[str, str]]:
        seen: list[dict[str, str]] = []
        params = {"limit": "4"}
        try:
            while True:
                response = await client.get("/files", params=params, headers=ALICE)
                body = response.json()
                seen += body["items"]
                if body["next_cursor"] is None:
                    return seen
                params["cursor"] = body["next_cursor"]
        finally:
            stop.set()

    seen, new_count, late_count = await asyncio.gather(
        page_through(), insert_new_files(), insert_late_commits()
    )

    seen_keys = [item["key"] for item in seen]
    assert len(seen_keys) == len(set(seen_keys)), "an item was repeated"
    assert set(initial) <= set(seen_keys), "an item was skipped"
    order = [(item["created_at"], item["key"]) for item in seen]
    assert order == sorted(order, reverse=True)
    assert new_count > 0
    assert late_count > 0
