"""/openapi.json describes every route, and /docs renders it from packaged assets."""

from __future__ import annotations

import inspect
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.routing import Mount, Route

from blobstore.api.openapi import openapi_path

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete")


def route_methods(route: Route) -> set[str]:
    """Return the methods a route serves, without the HEAD that Starlette adds to each GET."""
    endpoint = route.endpoint
    if inspect.isclass(endpoint) and issubclass(endpoint, HTTPEndpoint):
        # An HTTPEndpoint answers HEAD through its `get`, and only when it has one.
        methods = {method for method in HTTP_METHODS if hasattr(endpoint, method)}
        return methods | {"head"} if "get" in methods else methods
    methods = {method.lower() for method in route.methods or ()}
    return methods - {"head"} if "get" in methods else methods


def app_operations(app: Starlette) -> set[tuple[str, str]]:
    operations = set()
    for route in app.routes:
        for inner in route.routes if isinstance(route, Mount) else [route]:
            assert isinstance(inner, Route)
            path = openapi_path(inner.path)
            operations |= {(path, method) for method in route_methods(inner)}
    return operations


async def test_every_route_method_is_documented(app: Starlette, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    documented = {(path, method) for path, item in spec["paths"].items() for method in item}

    assert app_operations(app) - documented == set()
    assert ("/files/{key}", "head") in documented


KEY = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", f"/files/{KEY}", "GET, HEAD, DELETE"),
        ("DELETE", "/files", "GET, HEAD, POST"),
        ("GET", f"/v1/files/{KEY}/tags", "PUT, PATCH"),
        ("POST", f"/blobs/{'0' * 64}", "GET, HEAD"),
    ],
)
async def test_405_lists_every_method_of_the_resource(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allow


async def test_spec_references_resolve(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    text = (await client.get("/openapi.json")).text

    for reference in set(re.findall(r'"\$ref": ?"#/([^"]+)"', text)):
        node = spec
        for part in reference.split("/"):
            node = node[part]
        assert node, reference


async def test_operation_ids_are_unique(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]

    assert len(ids) == len(set(ids))


async def test_docs_page_loads_only_packaged_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    script = await client.get("/docs/docs.js")
    style = await client.get("/docs/docs.css")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r'(?:src|href)="([^"]+)"', page.text) == [
        "docs/docs.css",
        "docs/docs.js",
        "openapi.json",
    ]
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "openapi.json" in script.text
    assert "http://" not in script.text
    assert "https://" not in script.text
    assert style.status_code == 200


async def test_unknown_docs_asset_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/..%2Fapp.py")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
