"""Conditional and range requests on a stored file (RFC 9110 sections 13 and 14).

The service's validator is the strong ETag `"<sha256>"`: content under a key
never changes, so the digest names the representation exactly. There is no
Last-Modified, so If-Modified-Since, If-Unmodified-Since and a date in
If-Range never match anything and are ignored. Preconditions are evaluated in
the order of RFC 9110 section 13.2.2:

1. If-Match that matches no current ETag: 412;
2. If-None-Match that matches: 304 for GET and HEAD;
3. for GET only, Range, unless If-Range names another ETag: 206, or 416.

One `bytes` range is served as 206; a request for several ranges gets the
whole file with 200, which RFC 9110 section 14.2 allows, because a
multipart/byteranges body is rarely worth its cost to a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers

from blobstore.errors import PreconditionFailed, RangeNotSatisfiable

__all__ = ["ByteRange", "Selection", "parse_range", "select"]

_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_BYTE_RANGE = re.compile(r"(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    """The bytes from `start` up to, not including, `end`, of a file of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


@dataclass(frozen=True)
class Selection:
    """What to send: 200 with the whole file, 206 with `byte_range`, or 304 with no body."""

    status: int
    byte_range: ByteRange | None = None


FULL = Selection(200)
NOT_MODIFIED = Selection(304)


def select(method: str, headers: Headers, etag: str, size: int) -> Selection:
    """Evaluate the conditional and range headers of a GET or HEAD on one file.

    Raises PreconditionFailed (412) and RangeNotSatisfiable (416).
    """
    check_if_match(headers, etag)

    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag, weak=True):
        return NOT_MODIFIED

    # RFC 9110 section 14.2: GET is the only method for which Range is defined.
    range_header = headers.get("range")
    if method != "GET" or range_header is None:
        return FULL
    if_range = headers.get("if-range")
    if if_range is not None and not _if_range_matches(if_range, etag):
        return FULL

    byte_range = parse_range(range_header, size)
    return FULL if byte_range is None else Selection(206, byte_range)


def etag_of(sha256: str) -> str:
    """Return the strong ETag of stored content: its sha256, quoted."""
    return f'"{sha256}"'


def check_if_match(headers: Headers, etag: str) -> None:
    """Raise PreconditionFailed when If-Match is sent and does not name `etag`."""
    if_match = headers.get("if-match")
    if if_match is not None and not _matches(if_match, etag, weak=False):
        raise PreconditionFailed(
            "If-Match {value!r} does not match the file's ETag {etag}",
            value=if_match[:200],
            etag=etag,
        )


def check_delete_preconditions(headers: Headers, etag: str) -> None:
    """Apply If-Match and If-None-Match to a DELETE (RFC 9110 section 13.2.2).

    A DELETE cannot return 304, so a matching If-None-Match is a failed precondition.
    """
    check_if_match(headers, etag)
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag, weak=True):
        raise PreconditionFailed(
            "If-None-Match {value!r} matches the file's ETag {etag}",
            value=if_none_match[:200],
            etag=etag,
        )


def parse_range(header: str, size: int) -> ByteRange | None:
    """Return the one byte range a Range header selects, or None to send the whole file.

    None covers a unit other than bytes, a malformed header and a request for
    several ranges; RFC 9110 section 14.2 lets a server ignore those. A range
    that starts at or past the end raises RangeNotSatisfiable.
    """
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in range_set.split(",") if spec.strip()]
    if len(specs) != 1:
        return None
    match = _BYTE_RANGE.fullmatch(specs[0].replace(" ", ""))
    if match is None:
        return None

    first, last = match.groups()
    try:
        first_pos = int(first) if first else None
        last_pos = int(last) if last else None
    except ValueError:  # Longer than Python's integer-string limit.
        return None

    if first_pos is None:
        return _suffix_range(last_pos, size, header)
    if last_pos is not None and last_pos < first_pos:
        return None
    if first_pos >= size:
        raise RangeNotSatisfiable(
            "range {range!r} starts at or past the end of the file ({size} bytes)",
            range=header[:100],
            size=size,
        )
    end = size if last_pos is None else min(last_pos + 1, size)
    return ByteRange(first_pos, end, size)


def _suffix_range(length: int | None, size: int, header: str) -> ByteRange | None:
    if length is None:
        return None
    if length == 0:
        raise RangeNotSatisfiable(
            "range {range!r} asks for the last 0 bytes", range=header[:100], size=size
        )
    if size == 0:
        # An empty file has no last byte to point at; send it whole, as 200.
        return None
    return ByteRange(max(0, size - length), size, size)


def _matches(header: str, etag: str, *, weak: bool) -> bool:
    """Apply If-Match (strong comparison) or If-None-Match (weak comparison)."""
    if header.strip() == "*":
        return True
    opaque = etag.strip('"')
    for is_weak, value in _ENTITY_TAG.findall(header):
        if value == opaque and (weak or not is_weak):
            return True
    return False


def _if_range_matches(header: str, etag: str) -> bool:
    # If-Range compares strongly; a date never matches because no Last-Modified is sent.
    value = header.strip()
    return value.startswith('"') and value == etag
