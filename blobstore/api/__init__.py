"""The HTTP layer: parsing, headers, status codes and problem+json."""

from __future__ import annotations

from blobstore.api.app import create_app

__all__ = ["create_app"]
