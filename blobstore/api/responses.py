"""The response that streams a stored blob, and the JSON shape of a file."""

from __future__ import annotations

from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blobstore.clock import isoformat_utc
from blobstore.db.repository import FileRecord
from blobstore.storage import BlobReader

__all__ = ["BlobResponse", "content_disposition", "file_json"]


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


def content_disposition(disposition: str, filename: str) -> str:
    """Build a Content-Disposition value per RFC 6266, safe for any stored name.

    The plain `filename` is an ASCII stand-in with quotes, backslashes and
    control characters replaced; `filename*` (RFC 8187) carries the real name.
    """
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_" for ch in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class BlobResponse(Response):
    """Streams a blob from storage in one pass, with no body for HEAD."""

    def __init__(
        self,
        reader: BlobReader,
        *,
        headers: dict[str, str],
        media_type: str,
        background: BackgroundTask | None = None,
    ) -> None:
        self.reader = reader
        self.status_code = 200
        self.background = background
        # The stored type goes out as it was uploaded: Starlette would append a
        # charset to text/* types, which may not be the file's real encoding.
        self.media_type = None
        self.init_headers(
            {**headers, "content-type": media_type, "content-length": str(reader.size)}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send_body = scope["method"] != "HEAD"
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if send_body:
                async for chunk in self.reader.chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.reader.close()

        if self.background is not None:
            await self.background()
