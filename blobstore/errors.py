"""The exceptions that blobstore raises.

    BlobstoreError
    ├── ClientError                 the request is at fault; maps to a 4xx response
    │   ├── InvalidRequest          400 invalid_request
    │   │   ├── MalformedUpload     400 malformed_upload
    │   │   ├── InvalidKey          400 invalid_key
    │   │   └── DigestMismatch      400 digest_mismatch
    │   ├── InvalidToken            401 invalid_token
    │   ├── AuthenticationRequired  401 authentication_required
    │   ├── Forbidden               403 forbidden
    │   ├── FileNotFound            404 file_not_found
    │   ├── BlobNotFound            404 blob_not_found
    │   ├── RequestTimeout          408 request_timeout
    │   ├── PreconditionFailed      412 precondition_failed
    │   ├── UploadTooLarge          413 upload_too_large
    │   ├── UnsupportedMediaType    415 unsupported_media_type
    │   └── RangeNotSatisfiable     416 range_not_satisfiable
    ├── StorageError                the blob store failed (disk full, permissions); 500
    └── RelayError                  the event relay could not finish a step; it backs off
        ├── KafkaFailure            a Kafka client call failed or timed out
        └── RelayLockLost           the single-relay lock could not be taken or was lost

A `code` is part of the API: other services branch on it, so it never changes
once released. The message names the value and the rule that it broke.

A ClientError is raised with an English message template and its parameters,
`InvalidKey("file key {key!r} is not a UUID", key=raw)`. The template is also
the message's id in the translation catalogue, so the API can answer in the
caller's language; `detail` is always the English text.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationRequired",
    "BlobNotFound",
    "BlobstoreError",
    "ClientError",
    "DigestMismatch",
    "FileNotFound",
    "Forbidden",
    "InvalidKey",
    "InvalidRequest",
    "InvalidToken",
    "KafkaFailure",
    "MalformedUpload",
    "PreconditionFailed",
    "RangeNotSatisfiable",
    "RelayError",
    "RelayLockLost",
    "RequestTimeout",
    "StorageError",
    "UnsupportedMediaType",
    "UploadTooLarge",
]


class BlobstoreError(Exception):
    """Base class of every error blobstore raises on purpose."""


class ClientError(BlobstoreError):
    """A request that the service cannot serve as sent.

    `message` is an English template filled with `params` by str.format;
    `detail` is the filled-in English sentence. `status`, `code`, `title` and
    `default_headers` are fixed per subclass; `headers` go out with the error
    response.
    """

    status = 400
    code = "invalid_request"
    title = "Invalid request"
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str, /, **params: object) -> None:
        # Without parameters the message is used as it is, so a caller that
        # passes a finished sentence containing braces does not break it.
        detail = message.format(**params) if params else message
        super().__init__(detail)
        self.message = message
        self.params = params
        self.detail = detail
        self.headers = dict(self.default_headers)


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


class DigestMismatch(InvalidRequest):
    """Raised when an upload's content does not match the digest the client sent."""

    code = "digest_mismatch"
    title = "Digest mismatch"


class InvalidToken(ClientError):
    """Raised when the bearer token is malformed, unsigned, expired or fails verification.

    The response carries `WWW-Authenticate: Bearer error="invalid_token"` with
    the English detail as `error_description` (RFC 6750 section 3).
    """

    status = 401
    code = "invalid_token"
    title = "Invalid token"

    def __init__(self, message: str, /, **params: object) -> None:
        super().__init__(message, **params)
        description = "".join(
            ch if ch.isascii() and ch.isprintable() else "?" for ch in self.detail
        )
        # RFC 6750 section 3 allows neither '"' nor '\' in error_description.
        description = description.replace('"', "'").replace("\\", "/")
        self.headers["WWW-Authenticate"] = (
            f'Bearer realm="blobstore", error="invalid_token", error_description="{description}"'
        )


class AuthenticationRequired(ClientError):
    """Raised when a request needs a bearer token and sent none."""

    status = 401
    code = "authentication_required"
    title = "Authentication required"
    # RFC 6750 section 3.1: a request without credentials gets no error code.
    default_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="blobstore"'}


class Forbidden(ClientError):
    """Raised when the caller is known but may not do this to the resource."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class FileNotFound(ClientError):
    """Raised when no file has the requested key, or the caller may not see it."""

    status = 404
    code = "file_not_found"
    title = "File not found"


class BlobNotFound(ClientError):
    """Raised when none of the caller's files has the requested content (no file, for an admin).

    Content that only other users stored gets the same response as content
    that is not stored at all, so a hash lookup reveals nothing about other users.
    """

    status = 404
    code = "blob_not_found"
    title = "Blob not found"


class RequestTimeout(ClientError):
    """Raised when a client stops sending the request body for too long."""

    status = 408
    code = "request_timeout"
    title = "Request timeout"
    # The rest of the body may still arrive, so the connection cannot be reused.
    default_headers: ClassVar[dict[str, str]] = {"Connection": "close"}


class PreconditionFailed(ClientError):
    """Raised when an If-Match header matches no current representation."""

    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


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


class RangeNotSatisfiable(ClientError):
    """Raised when a Range header selects no byte of the file.

    The response carries `Content-Range: bytes */SIZE` (RFC 9110 section 15.5.17).
    """

    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"

    def __init__(self, message: str, /, *, size: int, **params: object) -> None:
        super().__init__(message, size=size, **params)
        self.headers["Content-Range"] = f"bytes */{size}"


class StorageError(BlobstoreError):
    """Raised when the blob store fails to write, place or read bytes."""


class RelayError(BlobstoreError):
    """Raised when the relay cannot finish a step; it backs off and starts a new session.

    `stage` names the step for logs and metrics: connect, reconcile, publish,
    commit or record.
    """

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


class KafkaFailure(RelayError):
    """Raised when a Kafka client call fails, times out or a delivery report carries an error.

    `fatal` is True when librdkafka marks the producer unusable, for example
    after another producer with the same transactional.id fenced it.
    """

    def __init__(self, message: str, *, stage: str, fatal: bool = False) -> None:
        super().__init__(message, stage=stage)
        self.fatal = fatal


class RelayLockLost(RelayError):
    """Raised when the relay cannot take its lock or loses the connection that holds it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, stage="connect")
