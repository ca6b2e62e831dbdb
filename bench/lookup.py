"""Time the lookup queries on a PostgreSQL index of synthetic files.

Usage: DATABASE_URL=postgresql://... python bench/lookup.py [--rows 1000000]

The database must be migrated and its files table empty, or --truncate must
be given, because the run fills blobs, files and file_tags and leaves them
filled for a later --reuse. Results print as a table and go to
bench/results/lookup.json. Each case runs --repeat times after one warm-up
run; the table shows the median and the 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blobstore.config import Settings  # noqa: E402
from blobstore.db import lookup, migrate  # noqa: E402
from blobstore.db.engine import create_engine  # noqa: E402
from blobstore.db.lookup import FileFilter, PagePosition  # noqa: E402
from blobstore.db.models import files  # noqa: E402
from tests.db.test_lookup_plans import population_sql  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "lookup.json"
TRUNCATE = "TRUNCATE blobs, files, file_tags, outbox RESTART IDENTITY CASCADE"
START = datetime(2026, 1, 1, tzinfo=UTC)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="files to create")
    parser.add_argument("--users", type=int, default=1000, help="owners the files spread over")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per case")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--truncate", action="store_true", help="empty the tables first")
    group.add_argument("--reuse", action="store_true", help="time the rows already there")
    return parser.parse_args()


def cases(rows: int, users: int) -> dict[str, Callable[[AsyncConnection], Awaitable[object]]]:
    user = "user-42"
    # The middle of user-42's files in time, for a page deep into its listing.
    middle = PagePosition(START + timedelta(minutes=rows // 2), uuid.UUID(int=0))
    # File 42 + users belongs to user-42; its sha256 column is md5(i) || md5(i + 1).
    digest = f"{_md5(42 + users)}{_md5(43 + users)}"

    def listing(
        where: FileFilter, after: PagePosition | None = None, limit: int = 50
    ) -> Callable[[AsyncConnection], Awaitable[object]]:
        return lambda conn: lookup.list_files(conn, where, after, limit)

    return {
        "owner, first page of 50": listing(FileFilter(user_id=user)),
        "owner, page of 50 from the middle": listing(FileFilter(user_id=user), middle),
        "owner, page of 1000": listing(FileFilter(user_id=user), limit=1000),
        "owner and one tag": listing(FileFilter(user_id=user, tags=("tag-42",))),
        "owner and two tags, from the middle": listing(
            FileFilter(user_id=user, tags=("tag-42", "kind-0")), middle
        ),
        "owner and sha256": listing(FileFilter(user_id=user, sha256=digest)),
        "owner and content type": listing(FileFilter(user_id=user, content_type="application/pdf")),
        "HEAD /blobs: owned blob": lambda conn: lookup.find_referenced_blob(conn, digest, user),
    }


def _md5(number: int) -> str:
    return hashlib.md5(str(number).encode(), usedforsecurity=False).hexdigest()


async def prepare(conn: AsyncConnection, args: argparse.Namespace) -> None:
    existing = (await conn.execute(select(func.count()).select_from(files))).scalar_one()
    if args.reuse:
        if existing == 0:
            raise SystemExit(
                "bench: --reuse needs rows from an earlier run; the files table is empty"
            )
        return
    if existing and not args.truncate:
        raise SystemExit(
            f"bench: the files table has {existing} rows; pass --truncate to delete them "
            "or --reuse to time them"
        )

    await conn.execute(text(TRUNCATE))
    for statement in population_sql(args.rows, args.users):
        started = time.perf_counter()
        await conn.execute(text(statement))
        print(f"  {statement.split()[0].lower()} took {time.perf_counter() - started:.1f} s")
    await conn.commit()


async def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    settings = Settings.from_env()
    if settings.database_url.get_backend_name() != "postgresql":
        raise SystemExit("bench: set DATABASE_URL to a PostgreSQL database")
    await asyncio.to_thread(migrate.upgrade, settings.database_url)

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            print(f"filling {args.rows} files for {args.users} users")
            await prepare(conn, args)
        # VACUUM sets the visibility map, so index-only scans apply as in production.
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE blobs, files, file_tags"))

        timings: dict[str, dict[str, float]] = {}
        async with engine.connect() as conn:
            for name, case in cases(args.rows, args.users).items():
                await case(conn)
                samples = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    await case(conn)
                    samples.append((time.perf_counter() - started) * 1000)
                samples.sort()
                timings[name] = {
                    "median_ms": round(statistics.median(samples), 3),
                    "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
                }
        return timings
    finally:
        await engine.dispose()


def main() -> None:
    args = parse_arguments()
    timings = asyncio.run(run(args))

    width = max(len(name) for name in timings)
    print(f"\n{'case'.ljust(width)}  median ms  p95 ms")
    for name, timing in timings.items():
        print(f"{name.ljust(width)}  {timing['median_ms']:9.2f}  {timing['p95_ms']:6.2f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "rows": args.rows,
        "users": args.users,
        "repeat": args.repeat,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(),
        "timings": timings,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
