"""Who may delete a file and who may read it under FILE_READ_ACCESS public and owner."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import ConfigError, Settings
from tests.helpers import row_counts, upload
from tests.tokens import as_user

ALICE = as_user("alice")
BOB = as_user("bob")
ADMIN = as_user("root", "admin")


async def test_other_user_deleting_gets_403_and_file_stays(
    public_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = (await upload(public_client, b"alice's", headers=ALICE)).json()["key"]

    response = await public_client.delete(f"/files/{key}", headers=BOB)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert key in response.json()["detail"]
    assert (await public_client.get(f"/files/{key}")).status_code == 200


async def test_anonymous_deleting_a_users_file_gets_403(
    public_client: httpx.AsyncClient,
) -> None:
    key = (await upload(public_client, b"alice's", headers=ALICE)).json()["key"]

    response = await public_client.delete(f"/files/{key}")

    assert response.status_code == 403


async def test_owner_deletes_own_file(public_client: httpx.AsyncClient) -> None:
    key = (await upload(public_client, b"mine", headers=ALICE)).json()["key"]

    response = await public_client.delete(f"/files/{key}", headers=ALICE)

    assert response.status_code == 204
    assert (await public_client.get(f"/files/{key}")).status_code == 404


async def test_admin_deletes_any_file(public_client: httpx.AsyncClient) -> None:
    key = (await upload(public_client, b"alice's", headers=ALICE)).json()["key"]

    response = await public_client.delete(f"/files/{key}", headers=ADMIN)

    assert response.status_code == 204


async def test_public_read_lets_anyone_with_the_key_read(
    public_client: httpx.AsyncClient,
) -> None:
    key = (await upload(public_client, b"shared", headers=ALICE)).json()["key"]

    anonymous = await public_client.get(f"/files/{key}")
    other = await public_client.get(f"/files/{key}/meta", headers=BOB)

    assert anonymous.status_code == 200
    assert anonymous.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert other.status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", ""), ("HEAD", ""), ("GET", "/meta")])
async def test_owner_read_hides_file_from_others_as_404(
    owner_client: httpx.AsyncClient, method: str, path: str
) -> None:
    key = (await upload(owner_client, b"private", headers=ALICE)).json()["key"]

    other = await owner_client.request(method, f"/files/{key}{path}", headers=BOB)
    anonymous = await owner_client.request(method, f"/files/{key}{path}")
    unknown = await owner_client.request(
        method, f"/files/00000000-0000-4000-8000-000000000000{path}", headers=BOB
    )

    assert other.status_code == 404
    assert anonymous.status_code == 404
    if method == "GET":
        # The same body as for a key that does not exist, so nothing leaks.
        assert other.json()["code"] == unknown.json()["code"] == "file_not_found"
        assert other.json()["detail"] == f"no file with key {key}"


async def test_owner_read_serves_owner_and_admin_privately(
    owner_client: httpx.AsyncClient,
) -> None:
    key = (await upload(owner_client, b"private", headers=ALICE)).json()["key"]

    owner = await owner_client.get(f"/files/{key}", headers=ALICE)
    admin = await owner_client.get(f"/files/{key}", headers=ADMIN)

    assert owner.status_code == 200
    assert owner.content == b"private"
    assert owner.headers["cache-control"] == "private, no-cache"
    assert admin.status_code == 200


async def test_owner_read_delete_by_other_user_is_404(
    owner_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = (await upload(owner_client, b"private", headers=ALICE)).json()["key"]

    response = await owner_client.delete(f"/files/{key}", headers=BOB)

    assert response.status_code == 404
    assert (await row_counts(engine))["files"] == 1


def test_read_access_setting_accepts_public_and_owner() -> None:
    assert Settings.from_env({}).file_read_access == "public"
    assert Settings.from_env({"FILE_READ_ACCESS": "Owner"}).file_read_access == "owner"
    with pytest.raises(ConfigError, match="FILE_READ_ACCESS"):
        Settings.from_env({"FILE_READ_ACCESS": "everyone"})
