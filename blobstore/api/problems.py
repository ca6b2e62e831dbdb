"""Error responses as application/problem+json (RFC 9457).

Every error body carries a stable `code` that clients branch on, a short
`title` and a `detail` sentence that names the value at fault. Title and
detail are in Spanish when the request's Accept-Language prefers it, and in
English otherwise; `Content-Language` says which.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from blobstore.api.language import preferred_language, translate, translate_title
from blobstore.errors import ClientError, StorageError

__all__ = ["EXCEPTION_HANDLERS", "problem"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
}


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    params: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem response in the caller's language.

    `title` and `detail` are the English texts; `detail` is a message template
    when `params` are given, and both are translated when a catalogue has them.
    """
    language = preferred_language(request.headers.get("accept-language"))
    body = {
        "type": f"urn:blobstore:problem:{code}",
        "title": translate_title(code, title, language),
        "status": status,
        "detail": translate(detail, params or {}, language),
        "code": code,
    }
    response_headers = {
        **(headers or {}),
        "Content-Language": language,
        "Vary": "Accept-Language",
    }
    return JSONResponse(body, status_code=status, headers=response_headers, media_type=PROBLEM_JSON)


async def client_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ClientError):
        raise TypeError(f"client_error handles ClientError, got {type(exc).__name__}")
    return problem(
        request,
        exc.status,
        exc.code,
        exc.title,
        exc.message,
        params=exc.params,
        headers=exc.headers,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise TypeError(f"http_error handles HTTPException, got {type(exc).__name__}")
    phrase = HTTPStatus(exc.status_code).phrase
    code = _HTTP_CODES.get(exc.status_code, phrase.lower().replace(" ", "_"))
    language = preferred_language(request.headers.get("accept-language"))
    if exc.detail != phrase:
        return problem(request, exc.status_code, code, phrase, exc.detail, headers=exc.headers)
    return problem(
        request,
        exc.status_code,
        code,
        phrase,
        "{method} {path}: {title}",
        params={
            "method": request.method,
            "path": request.url.path,
            "title": translate_title(code, phrase, language),
        },
        headers=exc.headers,
    )


async def storage_error(request: Request, exc: Exception) -> Response:
    logger.error("storage failure on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        request, 500, "storage_error", "Storage error", "the blob store failed; see server logs"
    )


async def client_disconnect(request: Request, exc: Exception) -> Response:
    # The client has gone, so this response is never read. The upload's cleanup already ran.
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return problem(
        request,
        400,
        "client_disconnected",
        "Client disconnected",
        "the request body ended early",
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, 500, "internal_error", "Internal server error", "see server logs")


EXCEPTION_HANDLERS = {
    ClientError: client_error,
    HTTPException: http_error,
    StorageError: storage_error,
    ClientDisconnect: client_disconnect,
    Exception: internal_error,
}
