"""Turn a request body into an upload stream, without holding it in memory.

Two forms are accepted on POST /files:

- multipart/form-data with a `file` field, and optional `tags` fields and a
  `sha256` field with the file's hex digest;
- any other Content-Type: the body is the file itself, named by `?filename=`
  or a Content-Disposition header, tagged by `?tags=`.

Both yield the file's bytes as they arrive; the multipart form is parsed
incrementally with python-multipart, so no part is buffered whole. A client
that stops sending for UPLOAD_IDLE_TIMEOUT_S seconds gets 408.

A Content-Digest header (RFC 9530) describes the request content. For a raw
body that content is the file, so the file's sha256 is checked against it.
For a multipart body it is the whole form, which is hashed as it streams.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from blobstore.api.digests import digest_field, parse_sha256
from blobstore.errors import DigestMismatch, InvalidRequest, MalformedUpload, RequestTimeout

__all__ = ["MultipartBody", "RawBody", "upload_body"]

FILE_FIELD = "file"
TAGS_FIELD = "tags"
SHA256_FIELD = "sha256"
RAW_QUERY_PARAMETERS = ("filename", "tags")
# Limits for what is parsed into memory: part headers and the small text fields.
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 100


_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def upload_body(request: Request, idle_timeout_s: float) -> MultipartBody | RawBody:
    """Choose how to read the request body from its Content-Type."""
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedUpload("multipart/form-data without a boundary parameter")
        # Ignoring them would store a name or tags other than the client asked for.
        misplaced = [name for name in RAW_QUERY_PARAMETERS if name in request.query_params]
        if misplaced:
            raise InvalidRequest(
                "query parameters {names} apply only to raw-body uploads; a multipart "
                "upload names the file in its part and sends tags as form fields",
                names=", ".join(misplaced),
            )
        return MultipartBody(request, boundary, idle_timeout_s)
    return RawBody(request, idle_timeout_s)


async def receive_body(request: Request, idle_timeout_s: float) -> AsyncIterator[bytes]:
    """Yield the request body, raising RequestTimeout when no byte arrives for a while.

    Without this, a client that declares a Content-Length and then sends
    nothing would keep its temp file and task alive for as long as the
    connection stays open.

    NOTE: a client that sends one byte just before each timeout is not cut
    off; MAX_UPLOAD_MB bounds how much it sends, not how long it takes.
    """
    stream = request.stream()
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise RequestTimeout(
                    "no request body data arrived for {seconds:g} s (UPLOAD_IDLE_TIMEOUT_S)",
                    seconds=idle_timeout_s,
                ) from None
            yield chunk
    finally:
        await stream.aclose()


class RawBody:
    """A request whose whole body is the file."""

    def __init__(self, request: Request, idle_timeout_s: float) -> None:
        self._request = request
        self._idle_timeout_s = idle_timeout_s
        self.content_type = request.headers.get("content-type")
        self.tags = request.query_params.getlist(TAGS_FIELD)

        self.filename = request.query_params.get("filename")
        disposition = request.headers.get("content-disposition")
        if self.filename is None and disposition is not None:
            self.filename = _filename_from_header(disposition)

        # Without a content coding the request content is the file itself.
        digest = request.headers.get("content-digest")
        self.expected_sha256 = None if digest is None else parse_sha256(digest).hex()

    def chunks(self) -> AsyncIterator[bytes]:
        return receive_body(self._request, self._idle_timeout_s)


class MultipartBody:
    """A multipart/form-data request, parsed as it streams.

    Text fields (`tags`) and the file's name and type are filled in as their
    parts arrive, so they are complete once `chunks()` is exhausted.
    """

    def __init__(self, request: Request, boundary: bytes, idle_timeout_s: float) -> None:
        self._request = request
        self._idle_timeout_s = idle_timeout_s
        self.filename: str | None = None
        self.content_type: str | None = None
        self.tags: list[str] = []
        self.expected_sha256: str | None = None

        digest = request.headers.get("content-digest")
        self._expected_body_sha256 = None if digest is None else parse_sha256(digest)
        self._body_sha256 = hashlib.sha256()

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
        async for chunk in receive_body(self._request, self._idle_timeout_s):
            if self._expected_body_sha256 is not None:
                self._body_sha256.update(chunk)
            if self._ended:
                continue  # Epilogue after the closing boundary; RFC 2046 says ignore it.
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise MalformedUpload("invalid multipart body: {reason}", reason=str(exc)) from exc
            for data in self._file_data:
                yield data
            self._file_data.clear()

        if not self._ended:
            raise MalformedUpload("multipart body ended before its closing boundary")
        if not self._file_seen:
            raise MalformedUpload("multipart body has no {field!r} field", field=FILE_FIELD)
        self._check_body_digest()

    def _check_body_digest(self) -> None:
        expected = self._expected_body_sha256
        if expected is None:
            return
        computed = self._body_sha256.digest()
        if not hmac.compare_digest(expected, computed):
            raise DigestMismatch(
                "Content-Digest mismatch: expected {expected}, computed {computed}",
                expected=digest_field(expected.hex()),
                computed=digest_field(computed.hex()),
            )

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise MalformedUpload(
                "multipart body has more than {max_parts} parts", max_parts=MAX_PARTS
            )
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
            raise MalformedUpload(
                "multipart part headers exceed {max_bytes} bytes", max_bytes=MAX_PART_HEADER_BYTES
            )

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
                raise MalformedUpload(
                    "multipart body has more than one {field!r} field", field=FILE_FIELD
                )
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
                "multipart field {field!r} exceeds {max_bytes} bytes",
                field=self._field_name,
                max_bytes=MAX_FIELD_BYTES,
            )
        self._field_value += data[start:end]

    def _on_part_end(self) -> None:
        if not self._in_file and self._field_name == TAGS_FIELD:
            try:
                self.tags.append(self._field_value.decode("utf-8"))
            except UnicodeDecodeError:
                raise MalformedUpload(
                    "multipart field {field!r} is not valid UTF-8", field=TAGS_FIELD
                ) from None
        if not self._in_file and self._field_name == SHA256_FIELD:
            self._set_expected_sha256(bytes(self._field_value))
        self._in_file = False
        self._field_name = None

    def _set_expected_sha256(self, value: bytes) -> None:
        if self.expected_sha256 is not None:
            raise MalformedUpload(
                "multipart body has more than one {field!r} field", field=SHA256_FIELD
            )
        text = value.decode("latin-1").strip()
        if not _SHA256_HEX.fullmatch(text):
            raise InvalidRequest(
                "invalid {field!r} field {value!r}: expected 64 hexadecimal digits",
                field=SHA256_FIELD,
                value=text[:100],
            )
        self.expected_sha256 = text.lower()

    def _on_end(self) -> None:
        self._ended = True


def _filename_from_disposition(header: bytes) -> str | None:
    """Return the filename parameter of a multipart part's Content-Disposition.

    RFC 7578 section 4.2 forbids `filename*` in multipart/form-data, and
    browsers send the name as raw UTF-8 in `filename`, so that is decoded as
    UTF-8, falling back to Latin-1.
    """
    _, options = parse_options_header(header)
    raw = options.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# One `; name=value` parameter, the value a token or a quoted string.
_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# RFC 8187 section 3.2.1: recipients must support these two charsets, and need no others.
_EXTENDED_CHARSETS = {"utf-8", "iso-8859-1"}


def _filename_from_header(header: str) -> str | None:
    """Return the file name of a request's Content-Disposition header (RFC 6266).

    `filename*` (RFC 8187) wins over `filename`, as RFC 6266 section 4.3 asks;
    one that cannot be decoded is skipped.
    """
    parameters: dict[str, str] = {}
    for name, value in _PARAMETER.findall(header):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        parameters.setdefault(name.lower(), value.strip())

    extended = parameters.get("filename*")
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        if charset.lower() in _EXTENDED_CHARSETS:
            try:
                return unquote_to_bytes(encoded).decode(charset.lower())
            except UnicodeDecodeError:
                pass
    return parameters.get("filename")
