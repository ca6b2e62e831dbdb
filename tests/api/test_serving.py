"""Stored files never run in the service's origin, and their names never break a header."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.api.serving import ServingPolicy, content_disposition
from blobstore.config import ConfigError, Settings
from tests.conftest import FIXTURES
from tests.helpers import app_client, upload

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def fetch_back(
    client: httpx.AsyncClient, data: bytes, name: str, content_type: str
) -> httpx.Response:
    created = await client.post(
        "/files", content=data, params={"filename": name}, headers={"Content-Type": content_type}
    )
    assert created.status_code == 201
    return await client.get(f"/files/{created.json()['key']}")


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        ((FIXTURES / "page.html").read_bytes(), "page.html", "text/html"),
        (SVG, "image.svg", "image/svg+xml"),
        (b"<a/>", "a.xml", "application/xml"),
        (b"<feed/>", "a.atom", "application/atom+xml"),
        (b"alert(1)", "a.js", "text/javascript"),
        (b"alert(1)", "b.js", "application/javascript"),
        (b"\x00\x01", "blob", "application/octet-stream"),
        (b"?", "x.custom", "application/x-custom"),
        (b"<p>", "page.htm", "TEXT/HTML; charset=utf-8"),
    ],
    ids=["html", "svg", "xml", "atom", "js", "js-app", "octet", "unknown", "html-params"],
)
async def test_scriptable_or_unknown_type_is_a_sandboxed_attachment(
    client: httpx.AsyncClient, data: bytes, name: str, content_type: str
) -> None:
    fetched = await fetch_back(client, data, name, content_type)

    assert fetched.content == data
    assert fetched.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-security-policy"] == "sandbox"


@pytest.mark.parametrize(
    ("data", "name", "content_type", "sandboxed"),
    [
        ((FIXTURES / "gradient.png").read_bytes(), "gradient.png", "image/png", True),
        ((FIXTURES / "document.pdf").read_bytes(), "document.pdf", "application/pdf", False),
        (b"plain text", "notes.txt", "text/plain; charset=utf-8", True),
    ],
    ids=["png", "pdf", "text"],
)
async def test_safe_type_is_inline(
    client: httpx.AsyncClient, data: bytes, name: str, content_type: str, sandboxed: bool
) -> None:
    fetched = await fetch_back(client, data, name, content_type)

    assert fetched.headers["content-disposition"] == f'inline; filename="{name}"'
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert ("content-security-policy" in fetched.headers) is sandboxed


async def test_inline_allow_list_adds_types(settings: Settings, engine: AsyncEngine) -> None:
    allowing_video = replace(settings, inline_content_types=("video/*", "application/json"))

    async with app_client(allowing_video) as client:
        video = await fetch_back(client, b"\x00", "clip.mp4", "video/mp4")
        json_file = await fetch_back(client, b"{}", "a.json", "application/json")
        html = await fetch_back(client, b"<p>", "a.html", "text/html")

    assert video.headers["content-disposition"].startswith("inline;")
    assert json_file.headers["content-disposition"].startswith("inline;")
    assert html.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize("media_type", ["text/html", "image/svg+xml", "application/rss+xml"])
def test_allow_list_rejects_scriptable_type(media_type: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServingPolicy((media_type,))

    assert caught.value.variable == "INLINE_CONTENT_TYPES"


def test_allow_list_from_env_rejects_malformed_entry() -> None:
    with pytest.raises(ConfigError, match="INLINE_CONTENT_TYPES"):
        Settings.from_env({"INLINE_CONTENT_TYPES": "video"})


async def test_non_ascii_filename_uses_filename_star(client: httpx.AsyncClient) -> None:
    fetched = await fetch_back(client, b"x", "informe año 2026 €.pdf", "application/pdf")

    assert fetched.headers["content-disposition"] == (
        'inline; filename="informe a_o 2026 _.pdf"; '
        "filename*=UTF-8''informe%20a%C3%B1o%202026%20%E2%82%AC.pdf"
    )


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"filename": "evil\r\nSet-Cookie: a.txt"}, {}),
        (
            {},
            {"Content-Disposition": "attachment; filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20a.txt"},
        ),
    ],
    ids=["query", "filename-star"],
)
async def test_crlf_in_filename_never_reaches_a_header(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    created = await client.post(
        "/files",
        content=b"x",
        params=params,
        headers={"Content-Type": "text/plain", **headers},
    )
    fetched = await client.get(f"/files/{created.json()['key']}")

    assert created.json()["filename"] == "evilSet-Cookie: a.txt"
    assert "set-cookie" not in fetched.headers
    assert fetched.headers["content-disposition"] == 'inline; filename="evilSet-Cookie: a.txt"'


async def test_raw_upload_prefers_filename_star(
    client: httpx.AsyncClient,
) -> None:
    disposition = "attachment; filename=\"fallback.txt\"; filename*=UTF-8''ma%C3%B1ana.txt"

    created = await client.post(
        "/files",
        content=b"x",
        headers={"Content-Type": "text/plain", "Content-Disposition": disposition},
    )

    assert created.json()["filename"] == "mañana.txt"


async def test_multipart_takes_raw_utf8_filename(client: httpx.AsyncClient) -> None:
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="ma\xc3\xb1ana.txt"\r\n'
        b"\r\nx\r\n--b--\r\n"
    )

    created = await client.post(
        "/files", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )

    assert created.json()["filename"] == "mañana.txt"


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            'say "hi".txt',
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt",
        ),
        ("back\\slash", 'attachment; filename="slash"'),
        ("../../etc/passwd", 'attachment; filename="passwd"'),
        ("100%.txt", "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt"),
        ("tab\there\x7f", 'attachment; filename="tabhere"'),
        ("\r\n", 'attachment; filename="upload"'),
    ],
    ids=["quotes", "backslash", "path", "percent", "controls", "empty-after-cleaning"],
)
def test_content_disposition_sanitises_stored_names(stored: str, expected: str) -> None:
    assert content_disposition("attachment", stored) == expected


async def test_raw_upload_name_keeps_last_path_component(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/files",
        content=b"x",
        params={"filename": "C:\\Users\\eve\\..\\report.pdf"},
        headers={"Content-Type": "application/pdf"},
    )

    assert created.json()["filename"] == "report.pdf"


@pytest.mark.parametrize("name", ["", "/", "..", "\x00\x01", "dir/"])
async def test_name_empty_after_cleaning_is_neutral(client: httpx.AsyncClient, name: str) -> None:
    created = await client.post(
        "/files", content=b"x", params={"filename": name}, headers={"Content-Type": "text/plain"}
    )

    assert created.json()["filename"] == "upload"


async def test_multipart_upload_keeps_fetched_html_as_attachment(
    client: httpx.AsyncClient,
) -> None:
    created = await upload(client, SVG, filename="logo.svg", content_type="image/svg+xml")

    fetched = await client.get(f"/files/{created.json()['key']}")

    assert fetched.headers["content-type"] == "image/svg+xml"
    assert fetched.headers["content-disposition"] == 'attachment; filename="logo.svg"'
    assert fetched.headers["content-security-policy"] == "sandbox"
