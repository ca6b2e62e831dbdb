"""Error responses as application/problem+json (RFC 9457).

Every error body carries a stable `code` that clients branch on, a short
`title` and a `detail` sentence that names the value at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from blobstore.errors import ClientError, StorageError

__all__ = ["EXCEPTION_HANDLERS", "problem"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
}


def problem(
    status: int, code: str, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {
        "type": f"urn:blobstore:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def client_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.code, exc.title, exc.detail, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = _HTTP_CODES.get(exc.status_code, phrase.lower().replace(" ", "_"))
    detail = (
        exc.detail if exc.detail != phrase else f"{request.method} {request.url.path}: {phrase}"
    )
    return problem(exc.status_code, code, phrase, detail, exc.headers)


async def storage_error(request: Request, exc: Exception) -> Response:
    logger.error("storage failure on %s %s: %s", request.method, request.url.path, exc)
    return problem(500, "storage_error", "Storage error", "the blob store failed; see server logs")


async def client_disconnect(request: Request, exc: Exception) -> Response:
    # Nobody will read this response; the upload's cleanup already ran.
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return problem(
        400, "client_disconnected", "Client disconnected", "the request body ended early"
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "Internal server error", "see server logs")


EXCEPTION_HANDLERS = {
    ClientError: client_error,
    HTTPException: http_error,
    StorageError: storage_error,
    ClientDisconnect: client_disconnect,
    Exception: internal_error,
}
