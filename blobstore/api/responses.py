"""The response that streams a stored blob, and the JSON shape of a file."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blobstore.clock import isoformat_utc
from blobstore.db.repository import FileRecord
from blobstore.metrics import DOWNLOAD_BYTES
from blobstore.storage import BlobReader
from blobstore.zerocopy import EXTENSION as ZERO_COPY_SEND

__all__ = ["BlobResponse", "file_json"]


def file_json(record: FileRecord, url: str) -> dict[str, object]:
    """Return a file's metadata as the JSON object the API documents."""
    return {
        "key": str(record.key),
        "url": url,
        "sha256": record.sha256,
        "blake3": record.blake3,
        "size": record.size,
        "content_type": record.content_type,
        "filename": record.filename,
        "tags": list(record.tags),
        "user_id": record.user_id,
        "created_at": isoformat_utc(record.created_at),
    }


class BlobResponse(Response):
    """Streams a blob, or the bytes `start` to `end` of it, in one pass; no body for HEAD.

    Where the server offers the ASGI zero-copy extension (see
    blobstore.zerocopy), the kernel sends the bytes straight from the file.
    """

    def __init__(
        self,
        reader: BlobReader,
        *,
        headers: dict[str, str],
        media_type: str,
        status_code: int = 200,
        start: int = 0,
        end: int | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.reader = reader
        self.status_code = status_code
        self.start = start
        self.end = reader.size if end is None else end
        self.background = background
        # The stored type goes out as it was uploaded: Starlette would append a
        # charset to text/* types, which may not be the file's real encoding.
        self.media_type = None
        length = self.end - self.start
        self.init_headers({**headers, "content-type": media_type, "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send_body = scope["method"] != "HEAD"
        fd = self.reader.fileno()
        zero_copy = fd is not None and ZERO_COPY_SEND in (scope.get("extensions") or {})
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if send_body and zero_copy:
                await send(
                    {
                        "type": ZERO_COPY_SEND,
                        "file": fd,
                        "offset": self.start,
                        "count": self.end - self.start,
                        "more_body": False,
                    }
                )
            else:
                if send_body:
                    async for chunk in self.reader.chunks(self.start, self.end):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        DOWNLOAD_BYTES.labels("copy").inc(len(chunk))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.reader.close()

        if self.background is not None:
            await self.background()
