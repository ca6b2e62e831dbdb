"""Request ids: from X-Request-ID or generated, sent back, carried into logs and the outbox."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import outbox_rows, upload

GENERATED = re.compile(r"[0-9a-f]{32}")

Logs = Callable[[], list[dict[str, Any]]]


async def test_valid_request_id_is_sent_back(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "Root=1-abc;Parent=2/x+y=="})

    assert response.headers["x-request-id"] == "Root=1-abc;Parent=2/x+y=="


async def test_missing_request_id_is_generated(client: httpx.AsyncClient) -> None:
    first = await client.get("/livez")
    second = await client.get("/livez")

    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "sent", ["a" * 129, "has space", 'quote"d', "semi;colon<tag>", ""], ids=repr
)
async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": sent})

    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_error_responses_carry_request_id(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/no/such/path", headers={"X-Request-ID": "req-404"})
    bad_key = await client.get("/files/not-a-uuid", headers={"X-Request-ID": "req-400"})

    assert not_found.status_code == 404
    assert not_found.headers["x-request-id"] == "req-404"
    assert bad_key.status_code == 400
    assert bad_key.headers["x-request-id"] == "req-400"


async def test_log_lines_of_a_request_carry_its_id(
    client: httpx.AsyncClient, json_logs: Logs
) -> None:
    response = await upload(client, b"logged", headers={"X-Request-ID": "req-logs-1"})

    lines = [line for line in json_logs() if line.get("request_id") == "req-logs-1"]
    access = [line for line in lines if line["logger"] == "blobstore.access"]
    stored = [line for line in lines if line["logger"] == "blobstore.service.files"]

    assert response.status_code == 201
    assert len(access) == 1
    assert access[0]["method"] == "POST"
    assert access[0]["path"] == "/files"
    assert access[0]["route"] == "/files"
    assert access[0]["status"] == 201
    assert access[0]["duration_s"] >= 0
    assert len(stored) == 1
    assert response.json()["key"] in stored[0]["message"]


async def test_concurrent_requests_keep_their_own_ids(
    client: httpx.AsyncClient, json_logs: Logs
) -> None:
    ids = [f"req-concurrent-{n}" for n in range(8)]

    responses = await asyncio.gather(
        *(
            upload(client, f"body {n}".encode(), headers={"X-Request-ID": rid})
            for n, rid in enumerate(ids)
        )
    )

    key_to_id = {r.json()["key"]: r.headers["x-request-id"] for r in responses}
    stored = [line for line in json_logs() if line["logger"] == "blobstore.service.files"]
    assert [r.headers["x-request-id"] for r in responses] == ids
    assert len(stored) == len(ids)
    for line in stored:
        key = line["message"].split()[2]
        assert line["request_id"] == key_to_id[key]


async def test_outbox_rows_record_the_request_id(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await upload(client, b"evented", headers={"X-Request-ID": "req-store"})
    key = created.json()["key"]
    await client.delete(f"/files/{key}", headers={"X-Request-ID": "req-delete"})

    rows = await outbox_rows(engine)

    assert [(row["event_type"], row["request_id"]) for row in rows] == [
        ("file_stored", "req-store"),
        ("file_deleted", "req-delete"),
    ]


async def test_generated_request_id_reaches_the_outbox(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await upload(client, b"no header")

    rows = await outbox_rows(engine)

    assert rows[0]["request_id"] == created.headers["x-request-id"]
