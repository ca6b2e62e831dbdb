"""The response to GET and HEAD on stored content: preconditions, ranges, caching and safety.

Everything that decides the status and headers of a download is gathered
here, so the download path costs one metadata lookup and one file open, and
a 304 not even the open. With ACCEL_REDIRECT_PREFIX set, the bytes of a GET
that nginx can serve go out from nginx instead (see blobstore.api.accel).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from blobstore.api.accel import accel_redirect_response, nginx_agrees
from blobstore.api.conditional import etag_of, select
from blobstore.api.digests import digest_field
from blobstore.api.responses import BlobResponse
from blobstore.api.serving import ServingPolicy
from blobstore.db.repository import FileRecord
from blobstore.errors import StorageError
from blobstore.service import FileService
from blobstore.storage import BlobReader

__all__ = ["CACHE_PRIVATE", "CACHE_PUBLIC", "content_response", "file_response"]

# Content under a key never changes, so a public file may be cached for as
# long as caches keep anything (a year is the customary maximum).
CACHE_PUBLIC = "public, max-age=31536000, immutable"
# A file readable only by its owner must not sit in shared caches, and each
# reuse is revalidated so that a deleted file or revoked token is noticed;
# revalidation is cheap, because the ETag answers it with 304.
CACHE_PRIVATE = "private, no-cache"


async def file_response(
    request: Request, record: FileRecord, service: FileService, policy: ServingPolicy
) -> Response:
    """Build the 200, 206 or 304 response for `record`; 412 and 416 are raised."""
    public = service.settings.file_read_access == "public"
    return await content_response(
        request,
        sha256=record.sha256,
        size=record.size,
        media_type=record.content_type,
        cache_control=CACHE_PUBLIC if public else CACHE_PRIVATE,
        headers=policy.headers(record.content_type, record.filename),
        open_reader=lambda: service.open(record),
        accel_redirect_prefix=service.settings.accel_redirect_prefix,
    )


async def content_response(
    request: Request,
    *,
    sha256: str,
    size: int,
    media_type: str,
    cache_control: str,
    headers: dict[str, str],
    open_reader: Callable[[], Awaitable[BlobReader]],
    accel_redirect_prefix: str | None = None,
) -> Response:
    """Build the 200, 206 or 304 response for stored content; 412 and 416 are raised.

    `headers` go out with 200 and 206 only: a 304 carries just the
    validators and never opens the content. Given `accel_redirect_prefix`, a
    GET for which nginx would send the same response gets an X-Accel-Redirect
    response instead.
    """
    etag = etag_of(sha256)
    validators = {"etag": etag, "cache-control": cache_control}

    selection = select(request.method, request.headers, etag, size)
    if selection.status == 304:
        return Response(status_code=304, headers=validators)

    headers = {
        **validators,
        "accept-ranges": "bytes",
        "repr-digest": digest_field(sha256),
        **headers,
    }
    byte_range = selection.byte_range
    if byte_range is None and request.method == "GET":
        headers["content-digest"] = headers["repr-digest"]

    # Opened in the redirect mode too, so that a blob missing from disk is
    # the same logged 500 in both modes rather than a bare 404 from nginx.
    reader = await open_reader()
    if reader.size != size:
        # A cut or grown file would go out as a shorter or longer body that
        # still looks complete under the headers chosen above.
        await reader.close()
        raise StorageError(
            f"blob {sha256} is {reader.size} bytes on disk but {size} in the index; "
            "run `blobstore fsck` to find damaged blobs"
        )

    if accel_redirect_prefix is not None and nginx_agrees(
        request.method, request.headers, selection
    ):
        await reader.close()
        return accel_redirect_response(
            accel_redirect_prefix, sha256, headers, media_type, partial=byte_range is not None
        )

    if byte_range is None:
        return BlobResponse(reader, headers=headers, media_type=media_type)

    headers["content-range"] = byte_range.content_range
    return BlobResponse(
        reader,
        headers=headers,
        media_type=media_type,
        status_code=206,
        start=byte_range.start,
        end=byte_range.end,
    )
