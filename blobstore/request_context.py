"""The id of the request being served, visible to everything that serves it.

The HTTP middleware sets it for each request, and log lines and outbox rows
read it. Code that runs outside a request (commands, the relay) gets None.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "REQUEST_ID",
    "current_request_id",
    "new_request_id",
    "valid_request_id",
]

# The outbox.request_id column stores at most this many characters.
MAX_REQUEST_ID_LENGTH = 128

# Characters of the ids that gateways and tracers generate (UUIDs, ULIDs,
# base64, "Root=1-...;Parent=..."). No spaces, quotes or control characters,
# so an id can never break a log line or a header.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:;=+/@-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

REQUEST_ID: ContextVar[str | None] = ContextVar("blobstore_request_id", default=None)


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def valid_request_id(raw: str | None) -> str | None:
    """Return `raw` if it is usable as a request id, else None."""
    if raw is not None and _REQUEST_ID.fullmatch(raw):
        return raw
    return None


def new_request_id() -> str:
    """Return 32 random hex digits, shaped like a UUID's hex.

    An id only has to be unique, not unguessable, so it comes from the
    process's seeded generator rather than from os.urandom: a system call per
    request showed up in the profile of small downloads.
    """
    return f"{random.getrandbits(128):032x}"
