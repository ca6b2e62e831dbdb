"""Turn a request body into an upload stream, without holding it in memory.

Two forms are accepted on POST /files:

- multipart/form-data with a `file` field, and optional `tags` fields;
- any other Content-Type: the body is the file itself, named by `?filename=`
  or a Content-Disposition header, tagged by `?tags=`.

Both yield the file's bytes as they arrive; the multipart form is parsed
incrementally with python-multipart, so no part is buffered whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from blobstore.errors import MalformedUpload

__all__ = ["MultipartBody", "RawBody", "upload_body"]

FILE_FIELD = "file"
TAGS_FIELD = "tags"
# Limits for what is parsed into memory: part headers and the small text fields.
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 100


def upload_body(request: Request) -> MultipartBody | RawBody:
    """Choose how to read the request body from its Content-Type."""
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedUpload("multipart/form-data without a boundary parameter")
        return MultipartBody(request, boundary)
    return RawBody(request)


class RawBody:
    """A request whose whole body is the file."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.content_type = request.headers.get("content-type")
        self.tags = request.query_params.getlist(TAGS_FIELD)

        self.filename = request.query_params.get("filename")
        disposition = request.headers.get("content-disposition")
        if self.filename is None and disposition is not None:
            self.filename = _filename_from_disposition(disposition.encode("latin-1"))

    def chunks(self) -> AsyncIterator[bytes]:
        return self._request.stream()


class MultipartBody:
    """A multipart/form-data request, parsed as it streams.

    Text fields (`tags`) and the file's name and type are filled in as their
    parts arrive, so they are complete once `chunks()` is exhausted.
    """

    def __init__(self, request: Request, boundary: bytes) -> None:
        self._request = request
        self.filename: str | None = None
        self.content_type: str | None = None
        self.tags: list[str] = []

        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )
        self._parts = 0
        self._header_bytes = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part_headers: dict[bytes, bytes] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._file_seen = False
        self._in_file = False
        self._file_data: list[bytes] = []
        self._ended = False

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._request.stream():
            if self._ended:
                continue  # Epilogue after the closing boundary; RFC 2046 says ignore it.
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise MalformedUpload(f"invalid multipart body: {exc}") from exc
            for data in self._file_data:
                yield data
            self._file_data.clear()

        if not self._ended:
            raise MalformedUpload("multipart body ended before its closing boundary")
        if not self._file_seen:
            raise MalformedUpload(f"multipart body has no '{FILE_FIELD}' field")

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise MalformedUpload(f"multipart body has more than {MAX_PARTS} parts")
        self._header_bytes = 0
        self._part_headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_value += data[start:end]

    def _count_header_bytes(self, count: int) -> None:
        self._header_bytes += count
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise MalformedUpload(f"multipart part headers exceed {MAX_PART_HEADER_BYTES} bytes")

    def _on_header_end(self) -> None:
        self._part_headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._part_headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedUpload("multipart part lacks 'Content-Disposition: form-data; name=...'")
        self._field_name = options[b"name"].decode("utf-8", "replace")
        self._field_value.clear()

        if self._field_name == FILE_FIELD:
            if self._file_seen:
                raise MalformedUpload(f"multipart body has more than one '{FILE_FIELD}' field")
            self._file_seen = True
            self._in_file = True
            self.filename = _filename_from_disposition(self._part_headers[b"content-disposition"])
            content_type = self._part_headers.get(b"content-type")
            self.content_type = None if content_type is None else content_type.decode("latin-1")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._file_data.append(data[start:end])
            return
        if len(self._field_value) + end - start > MAX_FIELD_BYTES:
            raise MalformedUpload(
                f"multipart field '{self._field_name}' exceeds {MAX_FIELD_BYTES} bytes"
            )
        self._field_value += data[start:end]

    def _on_part_end(self) -> None:
        if not self._in_file and self._field_name == TAGS_FIELD:
            try:
                self.tags.append(self._field_value.decode("utf-8"))
            except UnicodeDecodeError:
                raise MalformedUpload("multipart field 'tags' is not valid UTF-8") from None
        self._in_file = False
        self._field_name = None

    def _on_end(self) -> None:
        self._ended = True


def _filename_from_disposition(header: bytes) -> str | None:
    """Return the filename parameter of a Content-Disposition header, if any.

    Prefer `filename*` (RFC 5987, UTF-8) over `filename`; browsers send raw UTF-8
    in `filename`, so that is decoded as UTF-8 too, falling back to Latin-1.
    """
    _, options = parse_options_header(header)
    extended = options.get(b"filename*")
    if extended is not None:
        charset, _, rest = extended.partition(b"'")
        _, _, encoded = rest.partition(b"'")
        try:
            return unquote_to_bytes(encoded).decode(charset.decode("ascii") or "utf-8")
        except (LookupError, UnicodeDecodeError):
            pass

    raw = options.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
