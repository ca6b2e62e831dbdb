"""The file endpoints; each parses the request, calls the service and shapes the response."""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.conditional import check_delete_preconditions, etag_of
from blobstore.api.download import file_response
from blobstore.api.lookup import HEAD_FILES, LIST_FILES, list_files, lookup_routes
from blobstore.api.openapi import (
    BEARER_OPTIONAL,
    CONTENT_HEADERS,
    document,
    key_operation,
    problems,
    ref,
)
from blobstore.api.request_parts import file_key, file_service, file_url, reader
from blobstore.api.responses import file_json
from blobstore.api.serving import ServingPolicy
from blobstore.api.tagging import tag_routes
from blobstore.api.upload import MultipartBody, upload_body
from blobstore.db.repository import FileRecord
from blobstore.errors import InvalidRequest

__all__ = ["api_routes"]

# Room for the multipart boundaries and part headers around a file of the
# maximum size, so the up-front check never rejects an upload that would fit.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest(
            "invalid Content-Length {value!r}: expected a byte count", value=raw[:40]
        )
    return int(raw)


_UPLOAD_FILE = {
    "operationId": "uploadFile",
    "summary": "Upload a file",
    "description": (
        "A multipart/form-data body with a `file` field, or any other body as the "
        "file itself. A Content-Digest header (RFC 9530) or a `sha256` form field "
        "is checked; a mismatch stores nothing."
    ),
    "security": BEARER_OPTIONAL,
    "parameters": [
        {
            "name": "filename",
            "in": "query",
            "description": (
                "Name of a raw-body upload; only its last path component is kept, without "
                "control characters, cut to 255 characters. Not allowed with multipart."
            ),
            "schema": {"type": "string"},
        },
        {
            "name": "tags",
            "in": "query",
            "description": "Tags of a raw-body upload; see the `tags` form field.",
            "schema": {"type": "array", "items": ref("schemas", "Tags")},
        },
        {
            "name": "Content-Digest",
            "in": "header",
            "description": "sha-256 of the request content: sha-256=:BASE64:.",
            "schema": {"type": "string", "pattern": "^sha-256=:[A-Za-z0-9+/]{43}=:$"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "tags": {"type": "array", "items": ref("schemas", "Tags")},
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                }
            },
            "application/octet-stream": _BINARY,
        },
    },
    "responses": {
        "201": {
            "description": "Stored; `Location` is the file's URL.",
            "headers": {"Location": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": ref("schemas", "StoredFile")}},
            # Each link passes one field of the new file to the next operation.
            "links": {
                name: {
                    "operationId": operation_id,
                    "parameters": {parameter: f"$response.body#/{field}"},
                }
                for name, operation_id, parameter, field in [
                    ("GetFile", "getFile", "key", "key"),
                    ("GetFileMeta", "getFileMeta", "key", "key"),
                    ("DeleteFile", "deleteFile", "key", "key"),
                    ("ReplaceTags", "replaceTags", "key", "key"),
                    ("EditTags", "editTags", "key", "key"),
                    ("GetBlob", "getBlob", "sha256", "sha256"),
                ]
            },
        },
        **problems(400, 401, 408, 413, 500),
    },
}


async def upload_file(request: Request) -> Response:
    identity = identify(request)
    service = file_service(request)

    body = upload_body(request, service.settings.upload_idle_timeout_s)
    declared = _declared_length(request)
    if declared is not None:
        overhead = MULTIPART_OVERHEAD_BYTES if isinstance(body, MultipartBody) else 0
        service.check_declared_size(max(0, declared - overhead))

    stored = await service.upload(body, identity.user_id, file_url(request))

    payload = {**file_json(stored.record, stored.url), "deduplicated": stored.deduplicated}
    return JSONResponse(payload, status_code=201, headers={"Location": stored.url})


_GET_FILE = {
    "security": BEARER_OPTIONAL,
    "parameters": [
        ref("parameters", "FileKey"),
        ref("parameters", "Range"),
        ref("parameters", "IfMatch"),
        ref("parameters", "IfNoneMatch"),
        ref("parameters", "IfRange"),
    ],
    "responses": {
        "200": {
            "description": "The whole file.",
            "headers": {**CONTENT_HEADERS, "Content-Digest": ref("headers", "ContentDigest")},
            "content": {"*/*": _BINARY},
        },
        "206": {
            "description": "The byte range asked for (GET only).",
            "headers": {**CONTENT_HEADERS, "Content-Range": ref("headers", "ContentRange")},
            "content": {"*/*": _BINARY},
        },
        "304": {"description": "If-None-Match matched; the cached copy is current."},
        **problems(400, 401, 404, 412, 416, 500),
    },
}


@document(
    get={"operationId": "getFile", "summary": "Download a file", **_GET_FILE},
    head={"operationId": "headFile", "summary": "A file's download headers", **_GET_FILE},
    delete=key_operation(
        "deleteFile",
        "Delete a file (owner or admin)",
        {
            "204": {"description": "Deleted; the content stays until garbage collection."},
            **problems(403, 412),
        },
    ),
)
class FileResource(HTTPEndpoint):
    """One file by key: GET and HEAD download it, DELETE removes it.

    One endpoint serves all three methods so that a 405 lists every method
    of the resource in its Allow header.
    """

    async def get(self, request: Request) -> Response:
        service = file_service(request)
        record = await service.get(file_key(request), reader(request))
        policy: ServingPolicy = request.app.state.serving_policy
        return await file_response(request, record, service, policy)

    async def delete(self, request: Request) -> Response:
        identity = identify(request)

        def preconditions(record: FileRecord) -> None:
            check_delete_preconditions(request.headers, etag_of(record.sha256))

        await file_service(request).delete(file_key(request), identity, preconditions)
        return Response(status_code=204)


@document(
    get=key_operation(
        "getFileMeta",
        "A file's metadata",
        {
            "200": {
                "description": "The file's metadata.",
                "content": {"application/json": {"schema": ref("schemas", "File")}},
            }
        },
    )
)
async def get_file_meta(request: Request) -> Response:
    record = await file_service(request).get(file_key(request), reader(request))
    return JSONResponse(file_json(record, file_url(request, record.key)))


@document(get=LIST_FILES, head=HEAD_FILES, post=_UPLOAD_FILE)
class FileCollection(HTTPEndpoint):
    """All files: GET lists them, POST uploads one.

    One endpoint serves both methods so that a 405 lists both in its Allow header.
    """

    async def get(self, request: Request) -> Response:
        return await list_files(request)

    async def post(self, request: Request) -> Response:
        return await upload_file(request)


def api_routes() -> list[BaseRoute]:
    """Return the versioned API routes, served both at the root and under /v1."""
    return [
        Route("/files", FileCollection),
        Route("/files/{key}", FileResource),
        Route("/files/{key}/meta", get_file_meta, methods=["GET"]),
        *tag_routes(),
        *lookup_routes(),
    ]
