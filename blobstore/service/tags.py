"""Tag rules: how a tag is normalised, which tags are valid, how many a file may carry."""

from __future__ import annotations

import re
from collections.abc import Iterable

from blobstore.errors import InvalidRequest

__all__ = ["MAX_TAGS_PER_FILE", "MAX_TAG_LENGTH", "normalize_tags"]

MAX_TAG_LENGTH = 64
MAX_TAGS_PER_FILE = 32

# Lowercase letters and digits, then also '.', '_', ':', '-', '/'; starting with
# a letter or digit keeps tags safe in URLs, CSV exports and shell scripts.
_TAG = re.compile(r"[a-z0-9][a-z0-9._:/-]*")


def normalize_tags(raw_tags: Iterable[str]) -> list[str]:
    """Trim, lowercase, validate and de-duplicate tags, keeping their first order.

    Each raw value may hold several tags separated by commas. Empty entries are
    skipped; an invalid tag raises InvalidRequest naming it.
    """
    tags: list[str] = []
    for raw in raw_tags:
        for part in raw.split(","):
            tag = part.strip().lower()
            if not tag:
                continue
            if len(tag) > MAX_TAG_LENGTH:
                raise InvalidRequest(
                    "invalid tag {tag!r}: longer than {max_length} characters",
                    tag=tag[:80],
                    max_length=MAX_TAG_LENGTH,
                )
            if not _TAG.fullmatch(tag):
                raise InvalidRequest(
                    "invalid tag {tag!r}: use lowercase letters, digits and . _ : / -, "
                    "starting with a letter or digit",
                    tag=tag,
                )
            if tag not in tags:
                tags.append(tag)

    if len(tags) > MAX_TAGS_PER_FILE:
        raise InvalidRequest(
            "too many tags: {count}, at most {max_count} per file",
            count=len(tags),
            max_count=MAX_TAGS_PER_FILE,
        )
    return tags
