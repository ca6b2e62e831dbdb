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
from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.download import CACHE_PRIVATE, content_response
from blobstore.api.openapi import BEARER_OPTIONAL, CONTENT_HEADERS, document, problem, problems, ref
from blobstore.api.request_parts import file_service, file_url
from blobstore.api.responses import file_json
from blobstore.api.serving import ServingPolicy
from blobstore.clock import isoformat_utc
from blobstore.db.lookup import FileFilter, PagePosition
from blobstore.errors import InvalidRequest
from blobstore.service.lookup import FileLookup
from blobstore.service.naming import DEFAULT_CONTENT_TYPE, clean_content_type
from blobstore.service.tags import MAX_TAGS_PER_FILE, normalize_tags

__all__ = [
    "HEAD_FILES",
    "LIST_FILES",
    "BlobResource",
    "decode_cursor",
    "encode_cursor",
    "list_files",
    "lookup_routes",
]

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
    service = file_service(request)
    return FileLookup(service.engine, service.storage)


def parse_sha256_hex(raw: str, name: str) -> str:
    """Return a sha256 hex digest in lowercase, raising InvalidRequest naming `name`."""
    if not _SHA256_HEX.fullmatch(raw):
        raise InvalidRequest(
            "invalid {name} {value!r}: expected 64 hexadecimal digits", name=name, value=raw[:100]
        )
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
            "invalid cursor {cursor!r}: pass the next_cursor of the previous page unchanged",
            cursor=raw[:100],
        ) from None
    if created_at.tzinfo is None:
        raise InvalidRequest(
            "invalid cursor {cursor!r}: its time has no UTC offset", cursor=raw[:100]
        )
    return PagePosition(created_at=_as_utc(created_at), key=key)


def _as_utc(moment: datetime) -> datetime:
    """Convert an aware time to UTC, clamping times that UTC cannot hold in a datetime.

    0001-01-01T00:00:00+01:00 lies before datetime.min in UTC; it is still
    before every stored time, as datetime.min is, so the filter means the same.
    """
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1 and name not in REPEATABLE_PARAMETERS:
        raise InvalidRequest(
            "query parameter {name!r} is given {count} times, at most once",
            name=name,
            count=len(values),
        )
    return values[0] if values else None


def _parse_time(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            "invalid {name} {value!r}: expected an ISO 8601 time such as "
            "2026-01-31T12:00:00Z (write a '+' offset as %2B in a URL)",
            name=name,
            value=raw[:100],
        ) from None
    # A time without an offset is read as UTC, the zone every stored time is in.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else _as_utc(moment)


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(
            "invalid limit {value!r}: expected an integer from 1 to {max_limit}",
            value=raw[:40],
            max_limit=MAX_LIMIT,
        )
    return int(raw)


def _parse_content_type(raw: str) -> str:
    # clean_content_type turns a blank value into the default type, which a
    # filter must not do, and its message names no query parameter.
    if raw.strip():
        try:
            return clean_content_type(raw)
        except InvalidRequest:
            pass
    raise InvalidRequest("invalid content_type {value!r}: expected type/subtype", value=raw[:100])


def _parse_user_id(raw: str) -> str:
    if not raw or len(raw) > MAX_USER_ID_CHARS:
        raise InvalidRequest(
            "invalid user_id: expected 1 to {max_chars} characters", max_chars=MAX_USER_ID_CHARS
        )
    return raw


def parse_listing(request: Request) -> tuple[FileFilter, PagePosition | None, int]:
    """Read the filters, cursor and limit of GET /files, naming any invalid parameter."""
    unknown = sorted(set(request.query_params) - set(LISTING_PARAMETERS))
    if unknown:
        raise InvalidRequest(
            "unknown query parameter {name!r}; expected {expected}",
            name=unknown[0][:100],
            expected=", ".join(LISTING_PARAMETERS),
        )

    sha256 = _single(request, "sha256")
    user_id = _single(request, "user_id")
    content_type = _single(request, "content_type")
    after = _single(request, "created_after")
    before = _single(request, "created_before")
    cursor = _single(request, "cursor")

    where = FileFilter(
        user_id=None if user_id is None else _parse_user_id(user_id),
        sha256=None if sha256 is None else parse_sha256_hex(sha256, "sha256"),
        tags=tuple(normalize_tags(request.query_params.getlist("tag"))),
        content_type=None if content_type is None else _parse_content_type(content_type),
        created_after=None if after is None else _parse_time(after, "created_after"),
        created_before=None if before is None else _parse_time(before, "created_before"),
    )
    # An empty cursor requests the first page, as a missing one does.
    position = decode_cursor(cursor) if cursor else None
    return where, position, _parse_limit(_single(request, "limit"))


async def list_files(request: Request) -> Response:
    """Return one page of the files the caller may see, as `{"items", "next_cursor"}`."""
    identity = identify(request)
    where, position, limit = parse_listing(request)

    page = await _lookup(request).list_files(identity, where, position, limit)

    next_position = page.next_position
    return JSONResponse(
        {
            "items": [file_json(record, file_url(request, record.key)) for record in page.items],
            "next_cursor": None if next_position is None else encode_cursor(next_position),
        }
    )


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_LISTING = {
    "security": BEARER_OPTIONAL,
    "parameters": [
        _query(
            "sha256",
            "Only files with this content; 64 hexadecimal digits in any case.",
            {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        ),
        {
            **_query(
                "tag",
                "Only files that carry every one of these tags; repeat the parameter "
                "or separate tags with commas.",
                {"type": "array", "maxItems": MAX_TAGS_PER_FILE, "items": ref("schemas", "Tags")},
            ),
            "style": "form",
            "explode": True,
        },
        _query(
            "user_id",
            "Only files of this owner. Anyone but an admin may name only their own id.",
            {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID_CHARS},
        ),
        _query(
            "content_type",
            "Only files of this type; without parameters it also matches stored types "
            "that carry some.",
            {
                "type": "string",
                "maxLength": 255,
                "pattern": (
                    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+"
                    r"""(\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+="""
                    r"""([!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\\\r\n]*"))*$"""
                ),
            },
        ),
        _query(
            "created_after",
            "Only files created strictly after this time; without an offset it is UTC.",
            {"type": "string", "format": "date-time"},
        ),
        _query(
            "created_before",
            "Only files created strictly before this time; without an offset it is UTC.",
            {"type": "string", "format": "date-time"},
        ),
        _query(
            "cursor",
            "The `next_cursor` of the previous page, unchanged, with the same filters; "
            "empty or left out for the first page.",
            {"type": "string"},
        ),
        _query(
            "limit",
            f"Files per page; default {DEFAULT_LIMIT}.",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
    ],
}
_LISTING_403 = problem(403, "`user_id` names another user and the caller is not an admin.")

LIST_FILES: dict[str, Any] = {
    "operationId": "listFiles",
    "summary": "List files, newest first",
    "description": (
        "The caller's own files, or any user's for an admin, filtered and paged by keyset: "
        "files stored while a client pages through never shift the pages it has yet to see."
    ),
    **_LISTING,
    "responses": {
        "200": {
            "description": "One page of files.",
            "content": {"application/json": {"schema": ref("schemas", "FileList")}},
        },
        **problems(400, 401),
        **_LISTING_403,
        **problems(500),
    },
}
HEAD_FILES: dict[str, Any] = {
    "operationId": "headFiles",
    "summary": "A listing's headers",
    **_LISTING,
    "responses": {
        "200": {"description": "The listing is valid; the page is not sent."},
        **problems(400, 401),
        **_LISTING_403,
        **problems(500),
    },
}

_BLOB = {
    "security": BEARER_OPTIONAL,
    "parameters": [
        {
            "name": "sha256",
            "in": "path",
            "required": True,
            "description": "The content's sha256, 64 hexadecimal digits in any case.",
            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
        ref("parameters", "Range"),
        ref("parameters", "IfMatch"),
        ref("parameters", "IfNoneMatch"),
        ref("parameters", "IfRange"),
    ],
}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_BLOB_RESPONSES = {
    "200": {
        "description": "The content is in one of the caller's files (in any file, for an admin).",
        "headers": {**CONTENT_HEADERS, "Content-Digest": ref("headers", "ContentDigest")},
        "content": _BINARY,
    },
    "206": {
        "description": "The byte range asked for (GET only).",
        "headers": {**CONTENT_HEADERS, "Content-Range": ref("headers", "ContentRange")},
        "content": _BINARY,
    },
    "304": {"description": "If-None-Match matched; the cached copy is current."},
    **problems(400, 401),
    **problem(
        404,
        "None of the caller's files has this content, whether or not another user stored it.",
    ),
    **problems(412, 416, 500),
}


@document(
    get={
        "operationId": "getBlob",
        "summary": "Download content by its sha256",
        **_BLOB,
        "responses": _BLOB_RESPONSES,
    },
    head={
        "operationId": "headBlob",
        "summary": "Whether content with this sha256 is stored",
        "description": "Lets a client skip uploading bytes that it already stored.",
        **_BLOB,
        "responses": _BLOB_RESPONSES,
    },
)
class BlobResource(HTTPEndpoint):
    """Stored content by its sha256: GET downloads it, HEAD tells whether it is stored.

    An endpoint class, unlike a function route, sends the methods of a 405's
    Allow header in a fixed order.
    """

    async def get(self, request: Request) -> Response:
        identity = identify(request)
        sha256 = parse_sha256_hex(request.path_params["sha256"], "sha256")
        lookup = _lookup(request)

        blob = await lookup.find_blob(identity, sha256)

        policy: ServingPolicy = request.app.state.serving_policy
        # Content has no type or name of its own, because each file that
        # contains it names one. The digest serves as the name.
        return await content_response(
            request,
            sha256=blob.sha256,
            size=blob.size,
            media_type=DEFAULT_CONTENT_TYPE,
            # The response depends on the caller, so no shared cache may store it.
            cache_control=CACHE_PRIVATE,
            headers=policy.headers(DEFAULT_CONTENT_TYPE, blob.sha256),
            open_reader=lambda: lookup.open_blob(blob),
            accel_redirect_prefix=request.app.state.settings.accel_redirect_prefix,
        )


def lookup_routes() -> list[BaseRoute]:
    """Hash lookups; GET /files is served by the file collection in routes.py."""
    return [Route("/blobs/{sha256}", BlobResource)]
