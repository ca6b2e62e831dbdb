"""The file endpoints; each parses the request, calls the service and shapes the response."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.responses import BlobResponse, content_disposition, file_json
from blobstore.api.upload import MultipartBody, upload_body
from blobstore.errors import InvalidKey, InvalidRequest
from blobstore.service import FileService

__all__ = ["api_routes"]

# Room for the multipart boundaries and part headers around a file of the
# maximum size, so the up-front check never rejects an upload that would fit.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _service(request: Request) -> FileService:
    service: FileService = request.app.state.service
    return service


def _key(request: Request) -> uuid.UUID:
    raw = request.path_params["key"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidKey(f"file key {raw[:100]!r} is not a UUID") from None


def _url_base(request: Request) -> str:
    configured: str | None = request.app.state.settings.file_public_url
    return configured or f"{request.base_url}files/"


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest(f"invalid Content-Length {raw[:40]!r}: expected a byte count")
    return int(raw)


async def upload_file(request: Request) -> Response:
    identity = identify(request)
    service = _service(request)

    body = upload_body(request)
    declared = _declared_length(request)
    if declared is not None:
        overhead = MULTIPART_OVERHEAD_BYTES if isinstance(body, MultipartBody) else 0
        service.check_declared_size(max(0, declared - overhead))

    stored = await service.upload(body, identity.user_id, _url_base(request))

    payload = {**file_json(stored.record, stored.url), "deduplicated": stored.deduplicated}
    return JSONResponse(payload, status_code=201, headers={"Location": stored.url})


async def get_file(request: Request) -> Response:
    service = _service(request)
    record = await service.get(_key(request))
    reader = await service.open(record)

    headers = {
        "etag": f'"{record.sha256}"',
        "content-disposition": content_disposition("inline", record.filename),
        "x-content-type-options": "nosniff",
        "accept-ranges": "none",
    }
    return BlobResponse(reader, headers=headers, media_type=record.content_type)


async def get_file_meta(request: Request) -> Response:
    record = await _service(request).get(_key(request))
    return JSONResponse(file_json(record, _url_base(request) + str(record.key)))


async def delete_file(request: Request) -> Response:
    identify(request)
    await _service(request).delete(_key(request))
    return Response(status_code=204)


def api_routes() -> list[BaseRoute]:
    """The versioned API, served both at the root and under /v1."""
    return [
        Route("/files", upload_file, methods=["POST"]),
        Route("/files/{key}", get_file, methods=["GET", "HEAD"]),
        Route("/files/{key}", delete_file, methods=["DELETE"]),
        Route("/files/{key}/meta", get_file_meta, methods=["GET"]),
    ]
