"""Create the async engine for PostgreSQL or the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from blobstore.metrics import DB_POOL_IN_USE

__all__ = ["create_engine", "track_pool_usage"]

# Connections older than this are replaced, so server-side limits never cut one mid-use.
POOL_RECYCLE_S = 1800
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

# How long an SQLite writer waits for another writer before giving up, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30


def create_engine(url: URL, *, pool_size: int = 20, pooled: bool = True) -> AsyncEngine:
    """Create an engine; SQLite files get WAL mode and writer-first transactions.

    `pooled=False` opens a connection per use, for one-off commands like migrations.
    """
    pool_options: dict[str, Any] = (
        {"pool_size": pool_size, "max_overflow": pool_size, "pool_recycle": POOL_RECYCLE_S}
        if pooled
        else {"poolclass": NullPool}
    )
    if url.get_backend_name() != "sqlite":
        # NOTE: no pool_pre_ping: it costs a round trip on every checkout, which
        # profiles showed as a large share of a small request. The price is that
        # after a database restart each stale pooled connection fails one
        # request before SQLAlchemy discards it.
        connect_args: dict[str, Any] = {}
        if url.host in LOOPBACK_HOSTS and "ssl" not in url.query and "sslmode" not in url.query:
            # asyncpg tries TLS first by default; on loopback that is one wasted handshake.
            connect_args["ssl"] = False
        return create_async_engine(url, connect_args=connect_args, **pool_options)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    if pooled:
        pool_options = {}  # SQLAlchemy picks the right pool for an SQLite file.
    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **pool_options
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def track_pool_usage(engine: AsyncEngine) -> None:
    """Count the engine's checked-out connections in blobstore_db_pool_connections_in_use."""
    # A checked-out connection either returns (checkin, fired for invalidated
    # connections too) or is detached from the pool for good (detach).
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: DB_POOL_IN_USE.dec())
    event.listen(pool, "detach", lambda *_: DB_POOL_IN_USE.dec())


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails with SQLITE_BUSY
    # when another writer got there first, without waiting; taking the write
    # lock at BEGIN makes concurrent uploads queue on busy_timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
