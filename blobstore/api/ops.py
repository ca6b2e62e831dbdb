"""Operational endpoints: health and metrics, served at the root only."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.openapi import document, problems
from blobstore.service import FileService

__all__ = ["ops_routes"]


_HEALTH = {
    "type": "object",
    "required": ["status", "components"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "fail"]},
        "components": {"type": "object"},
    },
}


@document(
    get={
        "operationId": "getHealth",
        "summary": "Database and storage status",
        "responses": {
            "200": {"description": "Healthy", "content": {"application/json": {"schema": _HEALTH}}},
            "503": {
                "description": "A component failed",
                "content": {"application/json": {"schema": _HEALTH}},
            },
        },
    }
)
async def healthz(request: Request) -> Response:
    service: FileService = request.app.state.service
    checks: dict[str, dict[str, str]] = {}

    try:
        async with service.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok"}
    except Exception as exc:  # Any failure here is the answer the probe exists to give.
        checks["database"] = {"status": "fail", "detail": f"{type(exc).__name__}: {exc}"}

    temp_dir = service.settings.file_base_path / "tmp"
    writable = temp_dir.is_dir()
    checks["storage"] = {"status": "ok" if writable else "fail"}

    healthy = all(check["status"] == "ok" for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "fail", "components": checks},
        status_code=200 if healthy else 503,
    )


@document(
    get={
        "operationId": "getMetrics",
        "summary": "Prometheus metrics",
        "responses": {
            "200": {"description": "Text exposition format", "content": {"text/plain": {}}},
            **problems(500),
        },
    }
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def ops_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
