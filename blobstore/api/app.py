"""Build the Starlette application and the objects it serves from."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from blobstore.api.lookup import lookup_routes
from blobstore.api.ops import ops_routes
from blobstore.api.problems import EXCEPTION_HANDLERS
from blobstore.api.routes import api_routes
from blobstore.api.tagging import tag_routes
from blobstore.config import Settings
from blobstore.db.engine import create_engine
from blobstore.db.migrate import schema_mismatch
from blobstore.service import FileService
from blobstore.storage import LocalStorage

__all__ = ["SchemaOutOfDate", "create_app"]

logger = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """Raised at start-up when the database is not at the migrations' head revision."""


def create_app(settings: Settings | None = None) -> Starlette:
    """Create the application; settings come from the environment unless given."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = LocalStorage(settings.file_base_path)
        storage.ensure_ready()
        engine = create_engine(settings.database_url)
        try:
            await _check_schema(settings, engine)
            app.state.settings = settings
            app.state.service = FileService(settings, storage, engine)
            logger.info(
                "serving files from %s with database %s",
                settings.file_base_path,
                settings.database_url_for_logs,
            )
            yield
        finally:
            await engine.dispose()

    # One Mount serves every versioned route: Starlette enters the first Mount
    # whose prefix matches and never tries a second one with the same prefix.
    versioned = [*api_routes(), *lookup_routes(), *tag_routes()]
    routes = [*versioned, Mount("/v1", routes=versioned), *ops_routes()]
    return Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


async def _check_schema(settings: Settings, engine: AsyncEngine) -> None:
    mismatch = await schema_mismatch(engine, settings.database_url)
    if mismatch is not None:
        raise SchemaOutOfDate(mismatch)
