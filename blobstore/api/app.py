"""Build the Starlette application and the objects it serves from."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from blobstore import __version__
from blobstore.api.auth import ANONYMOUS, Authenticator
from blobstore.api.docs import docs_routes
from blobstore.api.middleware import RequestContextMiddleware
from blobstore.api.openapi import build_spec
from blobstore.api.ops import ops_routes
from blobstore.api.problems import EXCEPTION_HANDLERS
from blobstore.api.routes import api_routes
from blobstore.api.serving import ServingPolicy
from blobstore.config import Settings
from blobstore.db.engine import create_engine, track_pool_usage
from blobstore.db.migrate import SchemaOutOfDate, check_schema
from blobstore.db.stats import IndexStats, index_stats
from blobstore.events.relay import start_background_relay
from blobstore.health import HealthChecker
from blobstore.metrics import IndexStatsCollector, mark_worker_stopped
from blobstore.service import FileService
from blobstore.storage import LocalStorage

__all__ = ["BlobstoreApp", "SchemaOutOfDate", "create_app"]

logger = logging.getLogger(__name__)


class BlobstoreApp(Starlette):
    """Starlette with the request-context middleware outside all error handling.

    User middleware would sit inside Starlette's ServerErrorMiddleware and miss
    the 500 responses it sends; wrapping the whole stack counts those too.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContextMiddleware(super().build_middleware_stack(), self.router.routes)


def create_app(settings: Settings | None = None) -> Starlette:
    """Create the application; settings come from the environment unless given.

    Raises ConfigError when the token keys or INLINE_CONTENT_TYPES cannot be used.
    """
    settings = settings or Settings.from_env()
    authenticator = Authenticator(settings.auth)
    serving_policy = ServingPolicy(settings.inline_content_types)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = LocalStorage(settings.file_base_path)
        storage.ensure_ready()
        engine = create_engine(settings.database_url)
        track_pool_usage(engine)
        relay = None
        try:
            await check_schema(settings.database_url, engine)
            app.state.settings = settings
            app.state.service = FileService(settings, storage, engine)
            app.state.health = HealthChecker(settings, storage, engine)
            app.state.index_stats, app.state.metrics_registry = _index_metrics(settings, engine)
            if settings.auth.mode == "none":
                logger.warning(
                    "AUTH_MODE=none: bearer tokens are ignored and every caller is %s; "
                    "use it only for local development",
                    ANONYMOUS,
                )
            logger.info(
                "serving files from %s with database %s",
                settings.file_base_path,
                settings.database_url_for_logs,
            )
            if settings.accel_redirect_prefix is not None:
                logger.info(
                    "X-Accel-Redirect mode on (ACCEL_REDIRECT_PREFIX=%s): nginx must send "
                    "the bytes of downloads, and a client that reaches blobstore directly "
                    "gets empty bodies",
                    settings.accel_redirect_prefix,
                )
            relay = start_background_relay(settings, engine)
            yield
        finally:
            if relay is not None:
                await relay.stop()
            await _shut_down(storage, engine)

    routes = [*api_routes(), Mount("/v1", routes=api_routes()), *ops_routes(), *docs_routes()]
    app = BlobstoreApp(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.serving_policy = serving_policy
    app.state.openapi = build_spec(routes, version=__version__)
    return app


def _index_metrics(
    settings: Settings, engine: AsyncEngine
) -> tuple[IndexStatsCollector, CollectorRegistry]:
    async def query() -> IndexStats:
        async with engine.connect() as conn:
            return await index_stats(conn)

    collector = IndexStatsCollector(query, timeout_s=settings.health_timeout_s)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return collector, registry


async def _shut_down(storage: LocalStorage, engine: AsyncEngine) -> None:
    # The server has let in-flight requests finish, or cancelled them after
    # SHUTDOWN_TIMEOUT_S; uploads cut off that way leave temp files behind.
    removed = await storage.remove_unfinished()
    if removed:
        logger.warning("removed %d temp file(s) of uploads cut off by shutdown", removed)
    await engine.dispose()
    storage.close()
    mark_worker_stopped()
    logger.info("stopped: database connections closed")
