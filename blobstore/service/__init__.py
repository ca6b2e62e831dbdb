"""The rules of the service: what an upload, a read and a delete are."""

from __future__ import annotations

from blobstore.service.files import FileService, StoredFile, UploadBody

__all__ = ["FileService", "StoredFile", "UploadBody"]
