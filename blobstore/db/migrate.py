"""Run the Alembic migrations from inside the service and its command line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "SchemaOutOfDate",
    "alembic_config",
    "check_schema",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]


class SchemaOutOfDate(RuntimeError):
    """Raised at start-up when the database is not at the migrations' head revision."""


def alembic_config(url: URL) -> Config:
    """Build an Alembic config that points at the shipped scripts and at `url`."""
    config = Config()
    script_location = Path(str(resources.files("blobstore.migrations")))
    config.set_main_option("script_location", str(script_location))
    config.attributes["database_url"] = url.render_as_string(hide_password=False)
    return config


def upgrade(url: URL, revision: str = "head") -> None:
    """Apply migrations up to `revision`; call it outside any running event loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: URL, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision(url: URL) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


async def check_schema(url: URL, engine: AsyncEngine) -> None:
    """Raise SchemaOutOfDate unless the database is at the head revision."""
    current = await current_revision(engine)
    expected = head_revision(url)
    if current != expected:
        raise SchemaOutOfDate(
            f"database {url.render_as_string(hide_password=True)} is at revision {current}, "
            f"expected {expected}: run 'blobstore migrate'"
        )
