"""Build the Starlette application and the objects it serves from."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from blobstore import __version__
from blobstore.api.auth import ANONYMOUS, Authenticator
from blobstore.api.docs import docs_routes
from blobstore.api.openapi import build_spec
from blobstore.api.ops import ops_routes
from blobstore.api.problems import EXCEPTION_HANDLERS
from blobstore.api.routes import api_routes
from blobstore.api.serving import ServingPolicy
from blobstore.config import Settings
from blobstore.db.engine import create_engine
from blobstore.db.migrate import current_revision, head_revision
from blobstore.service import FileService
from blobstore.storage import LocalStorage

__all__ = ["SchemaOutOfDate", "create_app"]

logger = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """Raised at start-up when the database is not at the migrations' head revision."""


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
        try:
            await _check_schema(settings, engine)
            app.state.settings = settings
            app.state.service = FileService(settings, storage, engine)
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
            yield
        finally:
            await engine.dispose()

    routes = [*api_routes(), Mount("/v1", routes=api_routes()), *ops_routes(), *docs_routes()]
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.serving_policy = serving_policy
    app.state.openapi = build_spec(routes, version=__version__)
    return app


async def _check_schema(settings: Settings, engine: AsyncEngine) -> None:
    current = await current_revision(engine)
    expected = head_revision(settings.database_url)
    if current != expected:
        raise SchemaOutOfDate(
            f"database {settings.database_url_for_logs} is at revision {current}, "
            f"expected {expected}: run 'blobstore migrate'"
        )
