"""The documented event schemas are valid, the same in both languages, and match the code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from jsonschema import Draft202012Validator

from blobstore.events.outbox import FILE_DELETED, FILE_STORED, FILE_TAGS_CHANGED, file_event
from tests.events.kafka import DOCS, documented_schemas

NOW = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)


def test_english_docs_define_each_schema() -> None:
    schemas = documented_schemas()

    assert sorted(schemas) == ["file_deleted", "file_stored", "file_tags_changed", "headers"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)


def test_spanish_docs_carry_the_same_schemas() -> None:
    assert documented_schemas(DOCS / "es" / "eventos.md") == documented_schemas()


def test_file_event_payloads_match_their_schemas() -> None:
    schemas = documented_schemas()
    stored = file_event(
        FILE_STORED,
        topic="file_stored",
        key=uuid.uuid4(),
        user_id="alice",
        tags=["invoice", "2026"],
        sha256="a" * 64,
        created_at=NOW,
        now=NOW,
        extra={
            "size": 5,
            "content_type": "text/plain",
            "filename": "a.txt",
            "url": "http://127.0.0.1:8000/files/x",
        },
    )
    deleted = file_event(
        FILE_DELETED,
        topic="file_deleted",
        key=uuid.uuid4(),
        user_id="alice",
        tags=[],
        sha256="a" * 64,
        created_at=NOW,
        now=NOW,
    )

    tags_changed = file_event(
        FILE_TAGS_CHANGED,
        topic="file_tags_changed",
        key=uuid.uuid4(),
        user_id="alice",
        tags=["final", "invoice"],
        sha256="a" * 64,
        created_at=NOW,
        now=NOW,
        extra={"added": ["final"], "removed": ["draft"]},
    )

    assert list(Draft202012Validator(schemas["file_stored"]).iter_errors(stored.payload)) == []
    assert list(Draft202012Validator(schemas["file_deleted"]).iter_errors(deleted.payload)) == []
    tags_schema = Draft202012Validator(schemas["file_tags_changed"])
    assert list(tags_schema.iter_errors(tags_changed.payload)) == []


def test_tags_changed_schema_requires_added_and_removed() -> None:
    schema = documented_schemas()["file_tags_changed"]
    payload = file_event(
        FILE_TAGS_CHANGED,
        topic="file_tags_changed",
        key=uuid.uuid4(),
        user_id="alice",
        tags=[],
        sha256="a" * 64,
        created_at=NOW,
        now=NOW,
    ).payload

    errors = [error.message for error in Draft202012Validator(schema).iter_errors(payload)]

    assert "'added' is a required property" in errors
    assert "'removed' is a required property" in errors


def test_stored_schema_rejects_a_payload_without_meta() -> None:
    schema = documented_schemas()["file_stored"]
    payload = {"key": str(uuid.uuid4()), "timestamp": "2026-12-04T10:30:00.000000Z"}

    errors = [error.message for error in Draft202012Validator(schema).iter_errors(payload)]

    assert "'meta' is a required property" in errors
