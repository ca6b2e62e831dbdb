"""The OpenAPI 3.0 description of the API, assembled from the routes themselves.

Each endpoint carries its OpenAPI operation objects, attached with `document`
next to the handler; `build_spec` walks the application's routes and puts
them under their paths. To describe a new route, decorate its handler:

    @document(get={"summary": "...", "responses": {"200": ..., **problems(400, 404)}})
    async def list_files(request: Request) -> Response: ...

and reuse the shared pieces below (`problems`, `ref`, the `components`).
tests/api/test_openapi.py fails for any route method left undocumented.
Routes under the /v1 mount are the same operations and are not listed twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Mount, Route

__all__ = [
    "BEARER_OPTIONAL",
    "COMPONENTS",
    "CONTENT_HEADERS",
    "build_spec",
    "document",
    "key_operation",
    "problem",
    "problems",
    "ref",
]

Operation = dict[str, Any]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

OPENAPI_ATTRIBUTE = "__openapi__"
OPENAPI_VERSION = "3.0.3"

_PATH_CONVERTER = re.compile(r"\{(\w+):\w+\}")

# The problem responses every operation may point at, by status.
_PROBLEMS = {
    400: "The request is invalid; `code` names the rule it broke.",
    401: "The bearer token is missing where required, malformed or fails verification.",
    403: "The caller is neither the file's owner nor an admin.",
    404: "No file has this key, or the caller may not read it.",
    408: "The client stopped sending the request body for UPLOAD_IDLE_TIMEOUT_S seconds.",
    412: "If-Match names no current ETag of the file.",
    413: "The upload exceeds MAX_UPLOAD_MB.",
    416: "The Range starts at or past the end of the file.",
    500: "The service failed; see the server logs.",
    503: "A component the service depends on is unavailable.",
}


def document(**operations: Operation) -> Callable[[Endpoint], Endpoint]:
    """Attach OpenAPI operation objects, keyed by lowercase HTTP method, to an endpoint."""

    def attach(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, OPENAPI_ATTRIBUTE, operations)
        return endpoint

    return attach


def documented_operations(endpoint: Callable[..., Any]) -> dict[str, Operation]:
    operations: dict[str, Operation] = getattr(endpoint, OPENAPI_ATTRIBUTE, {})
    return operations


def ref(kind: str, name: str) -> dict[str, str]:
    """Return a reference to a shared component, such as ref("parameters", "FileKey")."""
    return {"$ref": f"#/components/{kind}/{name}"}


def problems(*statuses: int) -> dict[str, Any]:
    """Return the problem+json responses for `statuses`, to merge into an operation."""
    return {str(status): ref("responses", f"Problem{status}") for status in statuses}


def problem(status: int, description: str) -> dict[str, Any]:
    """Return one problem+json response whose meaning is particular to an operation."""
    return {str(status): _problem_response(description)}


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("schemas", "Problem")}},
    }


def openapi_path(path: str) -> str:
    """Turn a Starlette path such as /files/{key:uuid} into an OpenAPI path template."""
    return _PATH_CONVERTER.sub(r"{\1}", path)


def build_spec(routes: Iterable[BaseRoute], *, version: str) -> dict[str, Any]:
    """Build the OpenAPI document from the documented endpoints among `routes`."""
    paths: dict[str, dict[str, Operation]] = {}
    for route in routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        for method, operation in documented_operations(route.endpoint).items():
            paths.setdefault(openapi_path(route.path), {})[method] = operation

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "blobstore",
            "version": version,
            "description": (
                "Content-addressed file service. Every /files and /blobs route is also "
                "served under /v1. Errors are application/problem+json (RFC 9457) with a "
                "stable `code`, in Spanish when Accept-Language prefers `es`."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:blobstore:problem:file_not_found"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "example": "file_not_found"},
    },
}

_FILE_SCHEMA = {
    "type": "object",
    "required": [
        "key",
        "url",
        "sha256",
        "blake3",
        "size",
        "content_type",
        "filename",
        "tags",
        "user_id",
        "created_at",
    ],
    "properties": {
        "key": {"type": "string", "format": "uuid"},
        "url": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "blake3": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string"},
        "filename": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "user_id": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

_STORED_FILE_SCHEMA = {
    "allOf": [
        ref("schemas", "File"),
        {
            "type": "object",
            "required": ["deduplicated"],
            "properties": {
                "deduplicated": {
                    "type": "boolean",
                    "description": "Whether the content was already stored under another key.",
                }
            },
        },
    ]
}


_FILE_LIST_SCHEMA = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": ref("schemas", "File")},
        "next_cursor": {
            "type": "string",
            "nullable": True,
            "description": "Pass as `cursor` for the next page; null on the last page.",
        },
    },
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def _parameter(location: str, name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": location,
        "required": location == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


_TAGS_SCHEMA = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$",
    "description": (
        "A tag, stored lowercased. A value may also hold several tags separated by "
        "commas, with spaces around them trimmed; a file has at most 32 distinct tags. "
        "Other values are rejected with 400."
    ),
}

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Problem": _PROBLEM_SCHEMA,
        "Tags": _TAGS_SCHEMA,
        "File": _FILE_SCHEMA,
        "StoredFile": _STORED_FILE_SCHEMA,
        "FileList": _FILE_LIST_SCHEMA,
    },
    "responses": {
        f"Problem{status}": _problem_response(description)
        for status, description in _PROBLEMS.items()
    },
    "parameters": {
        "FileKey": _parameter("path", "key", "The file's key.", type="string", format="uuid"),
        "Range": _parameter("header", "Range", "One byte range, e.g. bytes=0-99."),
        "IfMatch": _parameter("header", "If-Match", "Send the file only if its ETag matches."),
        "IfNoneMatch": _parameter(
            "header", "If-None-Match", "Answer 304 if one of these ETags matches."
        ),
        "IfRange": _parameter(
            "header", "If-Range", "Apply Range only if the file still has this ETag."
        ),
    },
    "headers": {
        "ETag": _header('The quoted sha256 of the content, a strong validator: "<sha256>".'),
        "CacheControl": _header("Caching rules; immutable for public files."),
        "ReprDigest": _header("sha-256 of the whole file (RFC 9530): sha-256=:BASE64:."),
        "ContentDigest": _header("sha-256 of this response's content (RFC 9530)."),
        "ContentRange": _header("The bytes sent and the file size: bytes FIRST-LAST/SIZE."),
        "ContentDisposition": _header("inline or attachment, with the file name (RFC 6266)."),
    },
    "securitySchemes": {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Required under AUTH_MODE=verify for uploads and deletes.",
        }
    },
}

# Operations where a token is optional: anonymous callers act as `anonymous`
# unless AUTH_MODE=verify requires one.
BEARER_OPTIONAL: list[dict[str, list[str]]] = [{}, {"bearer": []}]

# The headers of a 200 or 206 response that carries stored content.
CONTENT_HEADERS = {
    "ETag": ref("headers", "ETag"),
    "Cache-Control": ref("headers", "CacheControl"),
    "Repr-Digest": ref("headers", "ReprDigest"),
    "Content-Disposition": ref("headers", "ContentDisposition"),
}


def key_operation(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """Return an OpenAPI operation on one file named by the `key` path parameter."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": BEARER_OPTIONAL,
        "parameters": [ref("parameters", "FileKey")],
        "responses": {**responses, **problems(400, 401, 404, 500)},
    }
