"""Operational endpoints: liveness, readiness, the health report and metrics, at the root only.

/livez returns 200 as long as the process serves HTTP. /readyz checks what a
request needs (storage and database) and returns 503 naming what failed.
/healthz adds Kafka and the outbox backlog, for people and dashboards.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from blobstore.api.openapi import document, problems
from blobstore.health import HealthChecker, HealthReport
from blobstore.metrics import IndexStatsCollector, render_metrics

__all__ = ["HEALTH_PATHS", "ops_routes"]

LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
HEALTH_PATHS = (LIVENESS_PATH, READINESS_PATH, HEALTH_PATH)

# Probes must never be cached by a proxy between them and the service.
_NO_STORE = {"Cache-Control": "no-store"}


def _health(request: Request) -> HealthChecker:
    checker: HealthChecker = request.app.state.health
    return checker


def _report_response(report: HealthReport) -> Response:
    return JSONResponse(
        report.as_json(), status_code=200 if report.healthy else 503, headers=_NO_STORE
    )


_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
_REPORT = {
    "type": "object",
    "required": ["status", "failed", "components"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "fail"]},
        "failed": {"type": "array", "items": {"type": "string"}},
        "components": {"type": "object"},
        "outbox": {"type": "object"},
    },
}


def _report_operation(operation_id: str, summary: str) -> dict[str, object]:
    content = {"application/json": {"schema": _REPORT}}
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            "200": {"description": "Healthy or degraded", "content": content},
            "503": {"description": "A required component failed", "content": content},
        },
    }


@document(
    get={
        "operationId": "getLiveness",
        "summary": "The process serves HTTP",
        "responses": {
            "200": {"description": "Alive", "content": {"application/json": {"schema": _STATUS}}}
        },
    }
)
async def livez(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@document(get=_report_operation("getReadiness", "Storage and database can serve requests"))
async def readyz(request: Request) -> Response:
    return _report_response(await _health(request).readiness())


@document(get=_report_operation("getHealth", "Full health report with Kafka and outbox backlog"))
async def healthz(request: Request) -> Response:
    return _report_response(await _health(request).report())


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
    index_stats: IndexStatsCollector = request.app.state.index_stats
    registry: CollectorRegistry = request.app.state.metrics_registry
    await index_stats.refresh()
    return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)


def ops_routes() -> list[BaseRoute]:
    return [
        Route(LIVENESS_PATH, livez, methods=["GET"]),
        Route(READINESS_PATH, readyz, methods=["GET"]),
        Route(HEALTH_PATH, healthz, methods=["GET"]),
        Route(METRICS_PATH, metrics, methods=["GET"]),
    ]
