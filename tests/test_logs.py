"""Log formats: one JSON object per line, or text, with request ids and no secrets."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from blobstore.config import Settings
from blobstore.logs import JsonFormatter, TextFormatter, configure_logging
from blobstore.request_context import REQUEST_ID

SECRET = "s3cr3t-Passw0rd"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("blobstore.test", logging.WARNING, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


def test_json_line_has_the_documented_fields() -> None:
    entry = record("stored file %s", "k1", key="k1", size=5)
    entry.request_id = "req-1"

    line = JsonFormatter().format(entry)

    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "blobstore.test"
    assert parsed["message"] == "stored file k1"
    assert parsed["request_id"] == "req-1"
    assert parsed["key"] == "k1"
    assert parsed["size"] == 5
    assert parsed["time"].endswith("+00:00")
    assert isinstance(parsed["pid"], int)


def test_json_line_keeps_a_traceback_inside_the_object() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        entry = logging.LogRecord(
            "blobstore.test",
            logging.ERROR,
            __file__,
            1,
            "failed",
            None,
            sys.exc_info(),
        )

    line = JsonFormatter().format(entry)

    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_text_line_shows_request_id_and_extras() -> None:
    entry = record("GET /files 200", status=200)
    entry.request_id = "req-2"

    line = TextFormatter().format(entry)

    assert " WARNING blobstore.test [req-2]: GET /files 200 status=200" in line


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
@pytest.mark.parametrize(
    "message",
    [
        f"connecting to postgresql://blobstore:{SECRET}@db/blobstore",
        "header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln",
        "authorization='bearer abc.def.ghi'",
    ],
)
def test_secrets_and_bearer_tokens_are_masked(
    formatter: Callable[..., logging.Formatter], message: str
) -> None:
    line = formatter([SECRET]).format(record(message))

    assert SECRET not in line
    assert "eyJ" not in line
    assert "abc.def" not in line
    assert "[redacted]" in line


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_password_word_outside_url_kept(
    formatter: Callable[..., logging.Formatter],
) -> None:
    entry = record("opened /srv/blobstore for postgresql://blobstore:blobstore@127.0.0.1/db")

    line = formatter(["blobstore"]).format(entry)

    assert "/srv/blobstore for postgresql://blobstore:[redacted]@127.0.0.1/db" in line


@pytest.fixture
def captured() -> Iterator[Callable[[str], list[str]]]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()

    def configure(log_format: str) -> list[str]:
        settings = Settings.from_env({"LOG_FORMAT": log_format, "LOG_LEVEL": "info"})
        configure_logging(settings, stream=buffer)
        return buffer.getvalue().splitlines()

    yield configure

    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_configure_logging_twice_installs_one_handler(
    captured: Callable[[str], list[str]],
) -> None:
    captured("text")
    captured("json")
    token = REQUEST_ID.set("req-3")
    try:
        logging.getLogger("blobstore.test").info("once")
    finally:
        REQUEST_ID.reset(token)

    lines = captured("json")

    once: list[dict[str, Any]] = [json.loads(line) for line in lines if "once" in line]
    assert len(once) == 1
    assert once[0]["request_id"] == "req-3"
