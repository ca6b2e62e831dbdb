"""The OpenAPI document at /openapi.json and the page at /docs that renders it.

The page's HTML, script and style ship inside the package (api/static) and
are read once at import, so /docs works with no network access.
"""

from __future__ import annotations

from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.openapi import document, ref

__all__ = ["docs_routes"]

_STATIC = resources.files("blobstore.api") / "static"
_ASSETS = {
    name: (_STATIC.joinpath(name).read_bytes(), media_type)
    for name, media_type in (
        ("docs.js", "text/javascript; charset=utf-8"),
        ("docs.css", "text/css; charset=utf-8"),
    )
}
_PAGE = _STATIC.joinpath("docs.html").read_bytes()

# The page loads only its own script, style and spec from this origin.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TEXT = {"schema": {"type": "string"}}


@document(
    get={
        "operationId": "getOpenApi",
        "summary": "This OpenAPI document",
        "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {}}}},
    }
)
async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


@document(
    get={
        "operationId": "getDocs",
        "summary": "Interactive API documentation",
        "responses": {"200": {"description": "HTML page", "content": {"text/html": _TEXT}}},
    }
)
async def docs_page(request: Request) -> Response:
    return Response(
        _PAGE,
        media_type="text/html; charset=utf-8",
        headers={"content-security-policy": _PAGE_POLICY, "x-content-type-options": "nosniff"},
    )


@document(
    get={
        "operationId": "getDocsAsset",
        "summary": "Script and style of the documentation page",
        "parameters": [
            {
                "name": "asset",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": sorted(_ASSETS)},
            }
        ],
        "responses": {
            "200": {
                "description": "The asset",
                "content": {"text/javascript": _TEXT, "text/css": _TEXT},
            },
            "404": {
                "description": "No such asset",
                "content": {"application/problem+json": {"schema": ref("schemas", "Problem")}},
            },
        },
    }
)
async def docs_asset(request: Request) -> Response:
    name = request.path_params["asset"]
    if name not in _ASSETS:
        raise HTTPException(404)
    content, media_type = _ASSETS[name]
    return Response(
        content,
        media_type=media_type,
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )


def docs_routes() -> list[BaseRoute]:
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/{asset}", docs_asset, methods=["GET"]),
    ]
