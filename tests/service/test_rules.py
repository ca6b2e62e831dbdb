"""Tag normalisation and the cleaning of client-sent names and types."""

from __future__ import annotations

import pytest

from blobstore.errors import InvalidRequest
from blobstore.service.naming import clean_content_type, clean_filename
from blobstore.service.tags import MAX_TAGS_PER_FILE, normalize_tags


def test_tags_are_trimmed_lowercased_split_and_deduplicated() -> None:
    assert normalize_tags([" Invoice , 2026", "invoice", "", "a/b:c"]) == [
        "invoice",
        "2026",
        "a/b:c",
    ]


@pytest.mark.parametrize("bad", ["has space", "-leading", "ümlaut", "x" * 65, "semi;colon"])
def test_invalid_tag_is_named_in_error(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid tag"):
        normalize_tags([bad])


def test_too_many_tags_rejected() -> None:
    with pytest.raises(InvalidRequest, match=f"at most {MAX_TAGS_PER_FILE}"):
        normalize_tags([f"t{i}" for i in range(MAX_TAGS_PER_FILE + 1)])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("bad\r\nname.txt", "badname.txt"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("informe año.pdf", "informe año.pdf"),
    ],
)
def test_clean_filename(raw: str | None, expected: str) -> None:
    assert clean_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "application/octet-stream"),
        ("Image/PNG", "image/png"),
        ("text/html; charset=utf-8", "text/html; charset=utf-8"),
    ],
)
def test_clean_content_type(raw: str | None, expected: str) -> None:
    assert clean_content_type(raw) == expected


@pytest.mark.parametrize("bad", ["html", "text/html\r\nX-Evil: 1", "a/b; c"])
def test_invalid_content_type_rejected(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid content type"):
        clean_content_type(bad)
