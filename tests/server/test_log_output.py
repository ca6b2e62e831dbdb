"""The output of real `blobstore` processes: JSON lines, one access line per request, no secrets."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from blobstore.config import ENV_VARS
from tests.server.conftest import ServerProcess


def unsigned_token(subject: str) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': subject})}.c2lnbmF0dXJl"


@pytest.mark.postgres
def test_logs_hold_no_password_token_or_content(
    start_server: Callable[..., ServerProcess], migrated_postgres: URL, tmp_path: Path
) -> None:
    # The test server trusts every local connection, so any password gets in.
    password = f"pw-{uuid.uuid4().hex}"
    database_url = migrated_postgres.set(password=password).render_as_string(hide_password=False)
    token = unsigned_token("log-test-user")
    bad_token = f"not-a-jwt-{uuid.uuid4().hex}"
    content = f"file content marker {uuid.uuid4().hex}"
    server = start_server(env={"DATABASE_URL": database_url})

    stored = httpx.post(
        f"{server.base_url}/files?filename=secret.txt",
        content=content,
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-secret"},
    )
    rejected = httpx.delete(
        f"{server.base_url}/files/{stored.json()['key']}",
        headers={"Authorization": f"Bearer {bad_token}", "X-Request-ID": "req-bad-token"},
    )
    health = httpx.get(f"{server.base_url}/healthz")
    status = server.stop()
    migrate = subprocess.run(
        [sys.executable, "-m", "blobstore", "migrate"],
        env={
            **{k: v for k, v in os.environ.items() if k not in ENV_VARS},
            "DATABASE_URL": database_url,
            "LOG_FORMAT": "json",
        },
        capture_output=True,
        text=True,
        check=False,
    )

    output = server.output() + migrate.stdout + migrate.stderr
    lines = server.json_lines()
    access = [line for line in lines if line["logger"] == "blobstore.access"]
    assert stored.status_code == 201
    assert rejected.status_code == 401
    assert health.status_code == 200
    assert status == 0
    assert migrate.returncode == 0
    assert password not in output
    assert token not in output
    assert token.split(".")[1] not in output
    assert bad_token not in output
    assert content not in output
    assert "***" in output
    assert [line["request_id"] for line in access if line["path"] != "/livez"] == [
        "req-secret",
        "req-bad-token",
        access[-1]["request_id"],
    ]
    assert [line for line in lines if line["logger"] == "uvicorn.access"] == []
    assert [json.loads(line) for line in migrate.stderr.splitlines()]
