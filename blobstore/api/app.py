"""Build the Starlette application and the objects it serves from."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Mount

from blobstore.api.ops import ops_routes
from blobstore.api.problems import EXCEPTION_HANDLERS
from blobstore.api.routes import api_routes
from blobstore.config import Settings
from blobstore.db.engine import create_engine
from blobstore.db.migrate import SchemaOutOfDate, check_schema
from blobstore.events.relay import start_background_relay
from blobstore.service import FileService
from blobstore.storage import LocalStorage

__all__ = ["SchemaOutOfDate", "create_app"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Starlette:
    """Create the application; settings come from the environment unless given."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = LocalStorage(settings.file_base_path)
        storage.ensure_ready()
        engine = create_engine(settings.database_url)
        relay = None
        try:
            await check_schema(settings.database_url, engine)
            app.state.settings = settings
            app.state.service = FileService(settings, storage, engine)
            logger.info(
                "serving files from %s with database %s",
                settings.file_base_path,
                settings.database_url_for_logs,
            )
            relay = start_background_relay(settings, engine)
            yield
        finally:
            if relay is not None:
                await relay.stop()
            await engine.dispose()

    routes = [*api_routes(), Mount("/v1", routes=api_routes()), *ops_routes()]
    return Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
