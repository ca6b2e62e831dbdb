"""GET /files (filtered, paged listings) and HEAD/GET /blobs/{sha256}.

The listing's `next_cursor` is base64url-encoded JSON of the last file's
created_at and key. Clients treat it as opaque: its content may change.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.responses import BlobResponse, file_json
from blobstore.api.routes import _url_base
from blobstore.clock import isoformat_utc
from blobstore.db.lookup import FileFilter, PagePosition
from blobstore.errors import InvalidRequest
from blobstore.service import FileService
from blobstore.service.lookup import FileLookup
from blobstore.service.naming import clean_content_type
from blobstore.service.tags import normalize_tags

__all__ = ["decode_cursor", "encode_cursor", "lookup_routes"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_USER_ID_CHARS = 255
LISTING_PARAMETERS = (
    "sha256",
    "tag",
    "user_id",
    "content_type",
    "created_after",
    "created_before",
    "cursor",
    "limit",
)
# Only `tag` may repeat; a second value of any other parameter is an error
# rather than silently ignored.
REPEATABLE_PARAMETERS = {"tag"}

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _lookup(request: Request) -> FileLookup:
    service: FileService = request.app.state.service
    return FileLookup(service.engine, service.storage)


def parse_sha256(raw: str, name: str) -> str:
    """Return a sha256 hex digest in lowercase, raising InvalidRequest naming `name`."""
    if not _SHA256_HEX.fullmatch(raw):
        raise InvalidRequest(f"invalid {name} {raw[:100]!r}: expected 64 hexadecimal digits")
    return raw.lower()


def encode_cursor(position: PagePosition) -> str:
    raw = json.dumps(
        {"created_at": isoformat_utc(position.created_at), "key": str(position.key)},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(raw: str) -> PagePosition:
    """Read a cursor from `encode_cursor`, raising InvalidRequest for anything else."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at = datetime.fromisoformat(fields["created_at"])
        key = uuid.UUID(fields["key"])
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise InvalidRequest(
            f"invalid cursor {raw[:100]!r}: pass the next_cursor of the previous page unchanged"
        ) from None
    if created_at.tzinfo is None:
        raise InvalidRequest(f"invalid cursor {raw[:100]!r}: its time has no UTC offset")
    return PagePosition(created_at=created_at, key=key)


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1 and name not in REPEATABLE_PARAMETERS:
        raise InvalidRequest(f"query parameter {name!r} is given {len(values)} times, at most once")
    return values[0] if values else None


def _parse_time(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"invalid {name} {raw[:100]!r}: expected an ISO 8601 time such as "
            "2026-01-31T12:00:00Z (write a '+' offset as %2B in a URL)"
        ) from None
    # A time without an offset is read as UTC, the zone every stored time is in.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(
            f"invalid limit {raw[:40]!r}: expected an integer from 1 to {MAX_LIMIT}"
        )
    return int(raw)


def _parse_content_type(raw: str) -> str:
    if not raw.strip():
        raise InvalidRequest("invalid content_type '': expected type/subtype")
    try:
        return clean_content_type(raw)
    except InvalidRequest as exc:
        raise InvalidRequest(f"invalid content_type: {exc.detail}") from None


def _parse_user_id(raw: str) -> str:
    if not raw or len(raw) > MAX_USER_ID_CHARS:
        raise InvalidRequest(f"invalid user_id: expected 1 to {MAX_USER_ID_CHARS} characters")
    return raw


def parse_listing(request: Request) -> tuple[FileFilter, PagePosition | None, int]:
    """Read the filters, cursor and limit of GET /files, naming any invalid parameter."""
    unknown = sorted(set(request.query_params) - set(LISTING_PARAMETERS))
    if unknown:
        raise InvalidRequest(
            f"unknown query parameter {unknown[0]!r}; expected {', '.join(LISTING_PARAMETERS)}"
        )

    sha256 = _single(request, "sha256")
    user_id = _single(request, "user_id")
    content_type = _single(request, "content_type")
    after = _single(request, "created_after")
    before = _single(request, "created_before")
    cursor = _single(request, "cursor")

    where = FileFilter(
        user_id=None if user_id is None else _parse_user_id(user_id),
        sha256=None if sha256 is None else parse_sha256(sha256, "sha256"),
        tags=tuple(normalize_tags(request.query_params.getlist("tag"))),
        content_type=None if content_type is None else _parse_content_type(content_type),
        created_after=None if after is None else _parse_time(after, "created_after"),
        created_before=None if before is None else _parse_time(before, "created_before"),
    )
    position = None if cursor is None else decode_cursor(cursor)
    return where, position, _parse_limit(_single(request, "limit"))


async def list_files(request: Request) -> Response:
    identity = identify(request)
    where, position, limit = parse_listing(request)

    page = await _lookup(request).list_files(identity.user_id, where, position, limit)

    url_base = _url_base(request)
    next_position = page.next_position
    return JSONResponse(
        {
            "items": [file_json(record, url_base + str(record.key)) for record in page.items],
            "next_cursor": None if next_position is None else encode_cursor(next_position),
        }
    )


async def get_blob(request: Request) -> Response:
    identity = identify(request)
    sha256 = parse_sha256(request.path_params["sha256"], "sha256")
    lookup = _lookup(request)

    blob = await lookup.find_blob(identity.user_id, sha256)
    reader = await lookup.open_blob(blob)

    headers = {
        "etag": f'"{blob.sha256}"',
        "x-content-type-options": "nosniff",
        "accept-ranges": "none",
        # The response depends on the caller, so no shared cache may store it.
        "cache-control": "private",
    }
    # Content has no type of its own, because each file that contains it names one.
    return BlobResponse(reader, headers=headers, media_type="application/octet-stream")


def lookup_routes() -> list[BaseRoute]:
    """Listing and hash lookups, served both at the root and under /v1."""
    return [
        Route("/files", list_files, methods=["GET"]),
        Route("/blobs/{sha256}", get_blob, methods=["GET", "HEAD"]),
    ]
