"""PUT and PATCH /files/{key}/tags: replace or edit the tags of a file.

PUT takes `{"tags": [...]}` or a bare JSON list of tags; PATCH takes
`{"add": [...], "remove": [...]}` with at least one of the two lists. Both
return the file's JSON with its new tags.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.responses import file_json
from blobstore.api.routes import _key, _url_base
from blobstore.errors import InvalidRequest
from blobstore.service import FileService
from blobstore.service.tagging import TagEditor

__all__ = ["tag_routes"]

# 32 tags of 64 characters fit many times over; more is not a tag request.
MAX_BODY_BYTES = 64 * 1024


def _editor(request: Request) -> TagEditor:
    service: FileService = request.app.state.service
    return TagEditor(service.settings, service.engine, service.clock)


async def _json_body(request: Request) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None


def _string_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(f"{name!r} must be a JSON list of strings")
    return value


async def put_tags(request: Request) -> Response:
    identity = identify(request)
    key = _key(request)
    body = await _json_body(request)

    if isinstance(body, dict):
        unknown = sorted(set(body) - {"tags"})
        if unknown or "tags" not in body:
            raise InvalidRequest('PUT body must be {"tags": [...]} or a JSON list of tags')
        body = body["tags"]
    tags = _string_list(body, "tags")

    record = await _editor(request).replace(key, identity.user_id, tags)
    return JSONResponse(file_json(record, _url_base(request) + str(record.key)))


async def patch_tags(request: Request) -> Response:
    identity = identify(request)
    key = _key(request)
    body = await _json_body(request)

    if not isinstance(body, dict) or not body or set(body) - {"add", "remove"}:
        raise InvalidRequest('PATCH body must be {"add": [...], "remove": [...]}, either optional')
    add = _string_list(body.get("add", []), "add")
    remove = _string_list(body.get("remove", []), "remove")

    record = await _editor(request).edit(key, identity.user_id, add=add, remove=remove)
    return JSONResponse(file_json(record, _url_base(request) + str(record.key)))


def tag_routes() -> list[BaseRoute]:
    """Tag edits, served both at the root and under /v1."""
    return [
        Route("/files/{key}/tags", put_tags, methods=["PUT"]),
        Route("/files/{key}/tags", patch_tags, methods=["PATCH"]),
    ]
