"""Clean the names and types that clients send before they are stored."""

from __future__ import annotations

import re
import unicodedata

from blobstore.errors import InvalidRequest

__all__ = ["DEFAULT_CONTENT_TYPE", "NEUTRAL_FILENAME", "clean_content_type", "clean_filename"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
NEUTRAL_FILENAME = "upload"
MAX_FILENAME_CHARS = 255

# RFC 9110 section 8.3.1: type "/" subtype, both tokens, then optional parameters.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}(\s*;\s*{_TCHARS}=({_TCHARS}|\"[^\"\\\r\n]*\"))*")


def clean_filename(raw: str | None) -> str:
    """Keep the last path component of a client's filename, without control characters.

    RFC 7578 section 4.2 says receivers must not use directory information
    from a filename, so both / and \\ count as separators.
    """
    if not raw:
        return NEUTRAL_FILENAME

    name = re.split(r"[/\\]", raw)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in {"", ".", ".."}:
        return NEUTRAL_FILENAME
    return name[:MAX_FILENAME_CHARS]


def clean_content_type(raw: str | None) -> str:
    """Return a valid media type in lowercase, the default when none was sent."""
    if raw is None or raw.strip() == "":
        return DEFAULT_CONTENT_TYPE

    value = raw.strip()
    if len(value) > 255 or not _MEDIA_TYPE.fullmatch(value):
        raise InvalidRequest(
            "invalid content type {content_type!r}: expected type/subtype",
            content_type=value[:100],
        )
    media_type, _, parameters = value.partition(";")
    return media_type.lower() + (";" + parameters if parameters else "")
