"""Blob storage: bytes and paths, nothing about users or SQL."""

from __future__ import annotations

from blobstore.storage.backend import BlobReader, BlobSink, StagedBlob, StorageBackend
from blobstore.storage.local import LocalStorage, sharded_name

__all__ = ["BlobReader", "BlobSink", "LocalStorage", "StagedBlob", "StorageBackend", "sharded_name"]
