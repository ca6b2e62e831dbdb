"""PUT and PATCH /files/{key}/tags, their validation and their outbox events."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from tests.api.test_files import bearer
from tests.helpers import outbox_rows, sha256, upload
from tests.tokens import as_user

ALICE = bearer({"sub": "alice"})
BOB = bearer({"sub": "bob"})
ADMIN = as_user("root", "admin")


async def alice_file(client: httpx.AsyncClient, tags: list[str] | None = None) -> str:
    response = await upload(client, b"tagged content", tags=tags, headers=ALICE)
    assert response.status_code == 201
    key: str = response.json()["key"]
    return key


async def tags_of(client: httpx.AsyncClient, key: str) -> list[str]:
    tags: list[str] = (await client.get(f"/files/{key}/meta")).json()["tags"]
    return tags


async def tag_events(engine: AsyncEngine) -> list[dict[str, object]]:
    return [row for row in await outbox_rows(engine) if row["event_type"] == "file_tags_changed"]


@pytest.mark.parametrize(
    "body", [{"tags": ["Beta", "alpha", "beta"]}, ["Beta", "alpha", "beta"], ["beta,alpha"]]
)
async def test_put_replaces_the_tag_set(
    client: httpx.AsyncClient, body: dict[str, list[str]] | list[str]
) -> None:
    key = await alice_file(client, tags=["old"])

    response = await client.put(f"/files/{key}/tags", json=body, headers=ALICE)

    assert response.status_code == 200
    assert response.json()["tags"] == ["alpha", "beta"]
    assert response.json()["key"] == key
    assert await tags_of(client, key) == ["alpha", "beta"]


async def test_put_writes_tags_changed_event(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    key = await alice_file(client, tags=["keep", "drop"])
    stored = (await client.get(f"/files/{key}/meta")).json()

    await client.put(f"/files/{key}/tags", json={"tags": ["keep", "new"]}, headers=ALICE)
    events = await tag_events(engine)

    assert len(events) == 1
    event = events[0]
    assert event["topic"] == settings.kafka_tags_topic == "file_tags_changed"
    assert event["message_key"] == key
    payload = event["payload"]
    assert isinstance(payload, dict)
    assert payload["key"] == key
    assert payload["meta"] == {
        "user_id": "alice",
        "tags": ["keep", "new"],
        "sha256": sha256(b"tagged content"),
        "created_at": stored["created_at"],
    }
    assert payload["added"] == ["new"]
    assert payload["removed"] == ["drop"]
    assert payload["event_type"] == "file_tags_changed"
    assert payload["timestamp"].endswith("Z")


async def test_patch_adds_and_removes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    key = await alice_file(client, tags=["a", "b"])

    response = await client.patch(
        f"/v1/files/{key}/tags", json={"add": ["C", "a"], "remove": ["b", "absent"]}, headers=ALICE
    )
    events = await tag_events(engine)

    assert response.status_code == 200
    assert response.json()["tags"] == ["a", "c"]
    assert len(events) == 1
    payload = events[0]["payload"]
    assert isinstance(payload, dict)
    assert payload["added"] == ["c"]
    assert payload["removed"] == ["b"]


async def test_meta_shows_new_tags_at_once(client: httpx.AsyncClient) -> None:
    key = await alice_file(client, tags=["old"])
    # Reading the metadata puts the record in the read path's cache.
    before = await tags_of(client, key)

    await client.put(f"/files/{key}/tags", json=["new"], headers=ALICE)
    after = await tags_of(client, key)

    assert before == ["old"]
    assert after == ["new"]


async def test_unchanged_tag_set_writes_no_event(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(client, tags=["same"])

    put = await client.put(f"/files/{key}/tags", json=["SAME"], headers=ALICE)
    patch = await client.patch(f"/files/{key}/tags", json={"remove": ["other"]}, headers=ALICE)

    assert put.status_code == 200
    assert patch.status_code == 200
    assert patch.json()["tags"] == ["same"]
    assert await tag_events(engine) == []


async def test_other_user_cannot_change_tags(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(client, tags=["private"])

    put = await client.put(f"/files/{key}/tags", json=["mine"], headers=BOB)
    patch = await client.patch(f"/files/{key}/tags", json={"add": ["mine"]}, headers=BOB)

    assert put.status_code == 403
    assert patch.status_code == 403
    assert put.json()["code"] == "forbidden"
    assert await tags_of(client, key) == ["private"]
    assert await tag_events(engine) == []


async def test_admin_changes_tags_of_any_file(
    public_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(public_client, tags=["draft"])

    put = await public_client.put(f"/files/{key}/tags", json=["reviewed"], headers=ADMIN)
    patch = await public_client.patch(f"/files/{key}/tags", json={"add": ["final"]}, headers=ADMIN)
    events = await tag_events(engine)

    assert put.status_code == 200
    assert patch.status_code == 200
    assert patch.json()["tags"] == ["final", "reviewed"]
    assert patch.json()["user_id"] == "alice"
    assert len(events) == 2
    for event in events:
        payload = event["payload"]
        assert isinstance(payload, dict)
        assert payload["meta"]["user_id"] == "alice"


async def test_owner_read_tag_edit_by_other_is_404(
    owner_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(owner_client, tags=["private"])

    other = await owner_client.put(f"/files/{key}/tags", json=["mine"], headers=BOB)
    admin = await owner_client.patch(f"/files/{key}/tags", json={"add": ["seen"]}, headers=ADMIN)

    assert other.status_code == 404
    assert other.json()["code"] == "file_not_found"
    assert admin.status_code == 200
    assert admin.json()["tags"] == ["private", "seen"]
    assert len(await tag_events(engine)) == 1


async def test_invalid_tag_returns_400_naming_it(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(client, tags=["ok"])

    put = await client.put(f"/files/{key}/tags", json=["fine", "not fine"], headers=ALICE)
    patch = await client.patch(f"/files/{key}/tags", json={"add": ["-dash"]}, headers=ALICE)

    assert put.status_code == 400
    assert "'not fine'" in put.json()["detail"]
    assert patch.status_code == 400
    assert "'-dash'" in patch.json()["detail"]
    assert await tags_of(client, key) == ["ok"]
    assert await tag_events(engine) == []


async def test_patch_over_tag_cap_returns_400(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await alice_file(client, tags=[f"t{i}" for i in range(30)])

    response = await client.patch(
        f"/files/{key}/tags", json={"add": ["x1", "x2", "x3"]}, headers=ALICE
    )

    assert response.status_code == 400
    assert "33" in response.json()["detail"]
    assert "at most 32" in response.json()["detail"]
    assert len(await tags_of(client, key)) == 30
    assert await tag_events(engine) == []


async def test_put_over_tag_cap_returns_400(client: httpx.AsyncClient) -> None:
    key = await alice_file(client)

    response = await client.put(
        f"/files/{key}/tags", json=[f"t{i}" for i in range(33)], headers=ALICE
    )

    assert response.status_code == 400
    assert "at most 32" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        ("PUT", b"{not json", "not valid JSON"),
        ("PUT", b'{"tag": ["a"]}', '{"tags": [...]}'),
        ("PUT", b'{"tags": "a"}', "list of strings"),
        ("PUT", b"[1, 2]", "list of strings"),
        ("PATCH", b"{}", '{"add": [...], "remove": [...]}'),
        ("PATCH", b'{"tags": ["a"]}', '{"add": [...], "remove": [...]}'),
        ("PATCH", b'["a"]', '{"add": [...], "remove": [...]}'),
        ("PATCH", b'{"add": ["a"], "remove": ["A"]}', "both added and removed"),
        ("PATCH", b'{"add": [null]}', "list of strings"),
        ("PUT", b"[" + b'"a",' * 20_000 + b'"a"]', "larger than"),
    ],
)
async def test_malformed_tag_body_returns_400(
    client: httpx.AsyncClient, engine: AsyncEngine, method: str, body: bytes, message: str
) -> None:
    key = await alice_file(client, tags=["ok"])

    response = await client.request(
        method,
        f"/files/{key}/tags",
        content=body,
        headers={**ALICE, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert await tags_of(client, key) == ["ok"]
    assert await tag_events(engine) == []


async def test_tags_of_unknown_key_return_404(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/files/{uuid.uuid4()}/tags", json=["a"], headers=ALICE)

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"


async def test_changed_tags_show_in_tag_listing(client: httpx.AsyncClient) -> None:
    key = await alice_file(client, tags=["draft"])

    await client.patch(
        f"/files/{key}/tags", json={"add": ["final"], "remove": ["draft"]}, headers=ALICE
    )
    final = await client.get("/files", params={"tag": "final"}, headers=ALICE)
    draft = await client.get("/files", params={"tag": "draft"}, headers=ALICE)

    assert [item["key"] for item in final.json()["items"]] == [key]
    assert draft.json()["items"] == []
