"""Alembic environment: runs the migrations on DATABASE_URL, online or offline."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url

from blobstore.config import Settings
from blobstore.db.engine import create_engine
from blobstore.db.models import metadata

config = context.config


def _database_url() -> str:
    # `blobstore migrate` passes the URL it already validated; the alembic
    # command line falls back to the same environment variable.
    url = config.attributes.get("database_url")
    if url is None:
        url = Settings.from_env().database_url.render_as_string(hide_password=False)
    return str(url)


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    is_sqlite = (url or "").startswith("sqlite") or (
        connection is not None and connection.dialect.name == "sqlite"
    )
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        render_as_batch=is_sqlite,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=_database_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(make_url(_database_url()), pooled=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
