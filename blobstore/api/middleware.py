"""The one middleware every request passes: request id, metrics and the access log."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blobstore.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS, HTTP_REQUESTS_IN_PROGRESS
from blobstore.request_context import REQUEST_ID, new_request_id, valid_request_id

__all__ = ["REQUEST_ID_HEADER", "UNMATCHED_ROUTE", "RequestContextMiddleware", "route_template"]

access_logger = logging.getLogger("blobstore.access")

REQUEST_ID_HEADER = "X-Request-ID"
# The route label of requests that match no route, so that scanners probing
# random paths cannot create a new time series per path.
UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """Return the path template of the route that serves `scope`, such as /v1/files/{key}.

    Follows Starlette's own rules: the first full match wins, and a route that
    matches the path but not the method (a 405) counts when nothing matches fully.
    """
    partial: str | None = None
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue

        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child_scope})
            template = None if inner is None else route.path + inner
        else:
            template = getattr(route, "path", None)

        if template is None:
            continue
        if match is Match.FULL:
            return template
        partial = partial or template
    return partial


class RequestContextMiddleware:
    """Gives each request an id, then counts, times and logs it once the response is sent.

    The id comes from a valid X-Request-ID header or is generated. It is sent
    back in the response and set in the request context for every log line
    and outbox row of the request. The middleware runs outside Starlette's
    error handling, so 500 responses are counted and carry the id too.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id = (
            valid_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER)) or new_request_id()
        )
        route = route_template(self.routes, scope) or UNMATCHED_ROUTE
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        HTTP_REQUESTS_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            HTTP_REQUESTS_IN_PROGRESS.dec()
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(route, method, str(status)).observe(duration)
            self._log(scope, route, status, duration)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, duration: float) -> None:
        client = scope.get("client")
        # The path as sent, still percent-encoded, so a decoded line break can
        # never split a text log line. The query string stays out: it may
        # carry file names and tags.
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.partition(b"?")[0].decode("ascii", "backslashreplace")
        access_logger.info(
            "%s %s %d",
            scope["method"],
            path,
            status,
            extra={
                "method": scope["method"],
                "path": path,
                "route": route,
                "status": status,
                "duration_s": round(duration, 6),
                "client": client[0] if client else None,
            },
        )
