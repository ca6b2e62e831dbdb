"""blobstore: a content-addressed file service with a SQL index and outbox events."""

from __future__ import annotations

from blobstore.config import ConfigError, Settings
from blobstore.errors import BlobstoreError

__all__ = ["BlobstoreError", "ConfigError", "Settings", "__version__"]

__version__ = "0.1.0"
