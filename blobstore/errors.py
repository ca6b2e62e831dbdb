"""The exceptions that blobstore raises.

    BlobstoreError
    ├── ClientError                 the request is at fault; maps to a 4xx response
    │   ├── InvalidRequest          400 invalid_request
    │   │   ├── MalformedUpload     400 malformed_upload
    │   │   └── InvalidKey          400 invalid_key
    │   ├── InvalidToken            401 invalid_token
    │   ├── Forbidden               403 forbidden
    │   ├── FileNotFound            404 file_not_found
    │   ├── BlobNotFound            404 blob_not_found
    │   ├── UploadTooLarge          413 upload_too_large
    │   └── UnsupportedMediaType    415 unsupported_media_type
    └── StorageError                the blob store failed (disk full, permissions); 500

A `code` is part of the API: other services branch on it, so it never changes
once released. The message names the value and the rule that it broke.
"""

from __future__ import annotations

__all__ = [
    "BlobNotFound",
    "BlobstoreError",
    "ClientError",
    "FileNotFound",
    "Forbidden",
    "InvalidKey",
    "InvalidRequest",
    "InvalidToken",
    "MalformedUpload",
    "StorageError",
    "UnsupportedMediaType",
    "UploadTooLarge",
]


class BlobstoreError(Exception):
    """Base class of every error blobstore raises on purpose."""


class ClientError(BlobstoreError):
    """A request that the service cannot serve as sent.

    `detail` is the English sentence shown to the caller; `status`, `code` and
    `title` are fixed per subclass.
    """

    status = 400
    code = "invalid_request"
    title = "Invalid request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(ClientError):
    """Raised for a request whose parameters break a documented rule."""


class MalformedUpload(InvalidRequest):
    """Raised when an upload body cannot be parsed (broken multipart, missing field)."""

    code = "malformed_upload"
    title = "Malformed upload"


class InvalidKey(InvalidRequest):
    """Raised when a file key in a path is not a UUID."""

    code = "invalid_key"
    title = "Invalid file key"


class InvalidToken(ClientError):
    """Raised when the bearer token cannot be decoded."""

    status = 401
    code = "invalid_token"
    title = "Invalid token"


class Forbidden(ClientError):
    """Raised when the caller is identified but may not act on the requested file or user."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class FileNotFound(ClientError):
    """Raised when no file has the requested key."""

    status = 404
    code = "file_not_found"
    title = "File not found"


class BlobNotFound(ClientError):
    """Raised when none of the caller's files has the requested content.

    Content that only other users stored gets the same response as content
    that is not stored at all, so a hash lookup reveals nothing about other users.
    """

    status = 404
    code = "blob_not_found"
    title = "Blob not found"


class UploadTooLarge(ClientError):
    """Raised when an upload's declared or streamed size passes MAX_UPLOAD_MB."""

    status = 413
    code = "upload_too_large"
    title = "Upload too large"


class UnsupportedMediaType(ClientError):
    """Raised when an upload's Content-Type is one the service cannot parse."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class StorageError(BlobstoreError):
    """Raised when the blob store fails to write, place or read bytes."""
