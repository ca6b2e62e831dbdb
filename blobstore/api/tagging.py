"""PUT and PATCH /files/{key}/tags: replace or edit the tags of a file.

PUT takes `{"tags": [...]}` or a bare JSON list of tags; PATCH takes
`{"add": [...], "remove": [...]}` with at least one of the two lists. Both
return the file's JSON with its new tags.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.auth import identify
from blobstore.api.openapi import document, key_operation, problems, ref
from blobstore.api.request_parts import file_key, file_service, file_url
from blobstore.api.responses import file_json
from blobstore.errors import InvalidRequest
from blobstore.service.tagging import TagEditor
from blobstore.service.tags import MAX_TAGS_PER_FILE

__all__ = ["FileTags", "tag_routes"]

# 32 tags of 64 characters fit many times over; more is not a tag request.
MAX_BODY_BYTES = 64 * 1024


def _editor(request: Request) -> TagEditor:
    service = file_service(request)
    return TagEditor(service.settings, service.engine, service.records, service.clock)


async def _json_body(request: Request) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(
                "request body is larger than {max_bytes} bytes", max_bytes=MAX_BODY_BYTES
            )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("request body is not valid JSON: {reason}", reason=str(exc)) from None


def _string_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest("{name!r} must be a JSON list of strings", name=name)
    return value


_TAG_LIST = {"type": "array", "maxItems": MAX_TAGS_PER_FILE, "items": ref("schemas", "Tags")}


def _tag_operation(operation_id: str, summary: str, body_schema: dict[str, Any]) -> dict[str, Any]:
    responses = {
        "200": {
            "description": "The file with its new tags.",
            "content": {"application/json": {"schema": ref("schemas", "File")}},
        },
        **problems(403),
    }
    return {
        **key_operation(operation_id, summary, responses),
        "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
    }


@document(
    put=_tag_operation(
        "replaceTags",
        "Replace a file's tags (owner or admin)",
        {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["tags"],
                    "additionalProperties": False,
                    "properties": {"tags": _TAG_LIST},
                },
                _TAG_LIST,
            ]
        },
    ),
    patch=_tag_operation(
        "editTags",
        "Add and remove tags of a file (owner or admin)",
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {"add": _TAG_LIST, "remove": _TAG_LIST},
        },
    ),
)
class FileTags(HTTPEndpoint):
    """The tag set of one file: PUT replaces it, PATCH adds and removes tags.

    One endpoint serves both methods so that a 405 lists both in its Allow header.
    """

    async def put(self, request: Request) -> Response:
        identity = identify(request)
        key = file_key(request)
        body = await _json_body(request)

        if isinstance(body, dict):
            if set(body) != {"tags"}:
                raise InvalidRequest('PUT body must be {"tags": [...]} or a JSON list of tags')
            body = body["tags"]
        tags = _string_list(body, "tags")

        record = await _editor(request).replace(key, identity, tags)
        return JSONResponse(file_json(record, file_url(request, record.key)))

    async def patch(self, request: Request) -> Response:
        identity = identify(request)
        key = file_key(request)
        body = await _json_body(request)

        if not isinstance(body, dict) or not body or set(body) - {"add", "remove"}:
            raise InvalidRequest(
                'PATCH body must be {"add": [...], "remove": [...]}, either optional'
            )
        add = _string_list(body.get("add", []), "add")
        remove = _string_list(body.get("remove", []), "remove")

        record = await _editor(request).edit(key, identity, add=add, remove=remove)
        return JSONResponse(file_json(record, file_url(request, record.key)))


def tag_routes() -> list[BaseRoute]:
    """Tag edits; served at the root and under /v1 with the other file routes."""
    return [Route("/files/{key}/tags", FileTags)]
