"""Request values that the file endpoints share: the service, the file key, the reader, URLs."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from blobstore.api.auth import Identity, identify
from blobstore.errors import InvalidKey
from blobstore.service import FileService

__all__ = ["file_key", "file_service", "file_url", "reader"]


def file_service(request: Request) -> FileService:
    service: FileService = request.app.state.service
    return service


def file_key(request: Request) -> uuid.UUID:
    """Return the `key` path parameter as a UUID, raising InvalidKey (400) for anything else."""
    raw = request.path_params["key"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidKey("file key {key!r} is not a UUID", key=raw[:100]) from None


def reader(request: Request) -> Identity | None:
    """Identify the caller only when reading needs it, keeping public reads token-free."""
    if file_service(request).settings.file_read_access == "public":
        return None
    return identify(request)


def file_url(request: Request, key: uuid.UUID | None = None) -> str:
    """Return the public URL of the file `key`, or the base that keys are appended to."""
    configured: str | None = request.app.state.settings.file_public_url
    base = configured or f"{request.base_url}files/"
    return base if key is None else base + str(key)
