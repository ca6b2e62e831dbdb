"""Lookups at scale: p50/p99 of key, hash and tag lookups and a deep page.

The index is filled with SQL (generate_series), not through the API, so a
million rows take about a minute instead of hours. Baseline: the same queries sent
straight to PostgreSQL by one asyncpg connection, the floor under any HTTP
lookup. The listing route GET /files is measured where the tree has it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import random
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from bench import sql
from bench.context import Context
from bench.processes import Server
from bench.profiling import profile_while
from bench.progress import step
from bench.record import Row, ScenarioResult, Series
from bench.stats import percentile
from bench.wrk import run_wrk

MAX_P99_MS = 10
PAGE = 50
SAMPLE_PARAMETERS = 1000
# A deep page starts after this share of all rows, newest first.
DEEP_PAGE_SHARE = 0.9
FILLED_TABLES = ("blobs", "files", "file_tags")
# Index builds after the fill sort in this much memory instead of on disk.
BULK_LOAD_MEMORY = "512MB"

FILL_SQL = [
    "SET synchronous_commit = off",
    """INSERT INTO blobs (sha256, blake3, size, created_at)
       SELECT encode(sha256(('b' || g)::bytea), 'hex'), encode(sha256(('c' || g)::bytea), 'hex'),
              4096, now() - g * interval '1 second'
       FROM generate_series(1, $1::int) AS g""",
    """INSERT INTO files (key, sha256, user_id, filename, content_type, size, created_at)
       SELECT md5('k' || g)::uuid, encode(sha256(('b' || g)::bytea), 'hex'), 'user-' || g % 1000,
              'file-' || g || '.bin', 'application/octet-stream', 4096,
              now() - g * interval '1 second'
       FROM generate_series(1, $1::int) AS g""",
    # Two distinct tags per file, so each tag labels 2 * files / tags files.
    """INSERT INTO file_tags (file_key, tag)
       SELECT md5('k' || g)::uuid, 'tag-' || ((g + t * ($2::int / 2)) % $2::int)
       FROM generate_series(1, $1::int) AS g, generate_series(0, 1) AS t""",
]

QUERIES = {
    "by key": [
        """SELECT files.*, blobs.blake3 FROM files JOIN blobs ON blobs.sha256 = files.sha256
           WHERE files.key = $1""",
        "SELECT tag FROM file_tags WHERE file_key = $1 ORDER BY tag",
    ],
    "by hash": [
        f"""SELECT * FROM files WHERE sha256 = $1
            ORDER BY created_at DESC, key DESC LIMIT {PAGE}""",
    ],
    "by tag": [
        f"""SELECT files.* FROM files JOIN file_tags ON file_tags.file_key = files.key
            WHERE file_tags.tag = $1 ORDER BY files.created_at DESC, files.key DESC
            LIMIT {PAGE}""",
    ],
    "deep page": [
        f"""SELECT * FROM files WHERE (created_at, key) < ($1, $2)
            ORDER BY created_at DESC, key DESC LIMIT {PAGE}""",
    ],
}


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("lookups", "Lookups at scale")
    options = ctx.options
    stack = ctx.stack
    stack.empty_tables()
    _fill(ctx)
    server = stack.blobstore()
    parameters = _parameters(ctx)

    direct: dict[str, tuple[Series, Series]] = {}
    for kind, statements in QUERIES.items():
        p50, p99 = Series("SQL, one connection", "ms"), Series("SQL, one connection", "ms")
        for rep in range(options.repeat):
            latencies = _time_queries(ctx, statements, parameters[kind])
            p50.samples.append(percentile(latencies, 0.5))
            p99.samples.append(percentile(latencies, 0.99))
            step(f"lookups, SQL {kind} {rep + 1}/{options.repeat}: p99 {p99.samples[-1]:.2f} ms")
        direct[kind] = (p50, p99)

    paths = {"by key": [f"/files/{key}/meta" for key, _ in parameters["by key"]]}
    if _has_listing(server):
        paths["by hash"] = [f"/files?sha256={sha}&limit={PAGE}" for (sha,) in parameters["by hash"]]
        paths["by tag"] = [f"/files?tag={tag}&limit={PAGE}" for (tag,) in parameters["by tag"]]
        # The cursor is opaque, so a deep page is asked for by its start time instead.
        paths["deep page"] = [
            f"/files?created_before={moment.isoformat().replace('+00:00', 'Z')}&limit={PAGE}"
            for moment, _ in parameters["deep page"]
        ]
    else:
        result.notes.append(
            "This tree has no listing route (GET /files), so hash, tag and deep-page lookups "
            "were measured in SQL only; the HTTP row is GET /files/{key}/meta."
        )

    for kind, (sql_p50, sql_p99) in direct.items():
        if kind not in paths:
            result.rows.append(Row(f"{kind}, SQL only: p99", sql_p99, max_value=MAX_P99_MS))
            continue
        http_p50, http_p99 = Series("blobstore, HTTP", "ms"), Series("blobstore, HTTP", "ms")
        for rep in range(options.repeat):
            measured = run_wrk(
                server.url,
                connections=1,
                duration=options.duration,
                scratch=ctx.workdir,
                paths=paths[kind],
            )
            if measured.errors:
                raise RuntimeError(f"lookups {kind}: {measured.errors} failed requests")
            http_p50.samples.append(measured.p50_ms)
            http_p99.samples.append(measured.p99_ms)
            step(f"lookups, HTTP {kind} {rep + 1}/{options.repeat}: p99 {measured.p99_ms:.2f} ms")
        if options.profile and kind == "by key":
            _, summary = profile_while(
                server.pid,
                ctx.results_dir / "profile-lookups-by-key.txt",
                functools.partial(
                    run_wrk,
                    server.url,
                    connections=1,
                    duration=options.duration,
                    scratch=ctx.workdir,
                    paths=paths[kind],
                ),
            )
            result.details.setdefault("profiles", {})["lookups-by-key"] = summary
        result.rows += [
            Row(f"{kind}, HTTP: p50", http_p50, sql_p50),
            Row(f"{kind}, HTTP: p99", http_p99, sql_p99, max_value=MAX_P99_MS),
        ]

    result.details["rows"] = {
        "files": options.lookup_files,
        "tags": options.lookup_tags,
        "file_tags": 2 * options.lookup_files,
    }
    return result


def _fill(ctx: Context) -> None:
    files, tags = ctx.options.lookup_files, ctx.options.lookup_tags
    step(f"lookups: inserting {files} files with {tags} tags")
    started = time.monotonic()

    async def fill(connection: Any) -> None:
        await connection.execute(FILL_SQL[0])
        async with _bulk_load(connection, FILLED_TABLES):
            await connection.execute(FILL_SQL[1], files)
            await connection.execute(FILL_SQL[2], files)
            await connection.execute(FILL_SQL[3], files, tags)
        await connection.execute("ANALYZE blobs, files, file_tags")

    sql.run(ctx.stack.database_url(), fill)
    step(f"lookups: rows inserted in {time.monotonic() - started:.0f} s")


@contextlib.asynccontextmanager
async def _bulk_load(connection: Any, tables: Sequence[str]) -> AsyncIterator[None]:
    """Drop the secondary indexes and foreign keys of `tables` for a bulk insert, then rebuild them.

    Inserted row by row, a million random keys thrash B-tree pages that no
    longer fit in shared_buffers, and the fill took over 25 minutes. Built
    afterwards from sorted input, the same indexes take seconds. Primary keys stay, so the
    fill still fails on a duplicate.
    """
    indexes = await connection.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS ddl
           FROM pg_index AS i
           WHERE i.indrelid = ANY($1::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)""",
        list(tables),
    )
    foreign_keys = await connection.fetch(
        """SELECT conrelid::regclass::text AS owner, conname AS name,
                  pg_get_constraintdef(oid) AS ddl
           FROM pg_constraint
           WHERE contype = 'f'
             AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))""",
        list(tables),
    )

    async with connection.transaction():
        for key in foreign_keys:
            await connection.execute(f'ALTER TABLE {key["owner"]} DROP CONSTRAINT "{key["name"]}"')
        for index in indexes:
            await connection.execute(f"DROP INDEX {index['name']}")

    yield

    await connection.execute(f"SET maintenance_work_mem = '{BULK_LOAD_MEMORY}'")
    for index in indexes:
        await connection.execute(index["ddl"])
    for key in foreign_keys:
        await connection.execute(
            f'ALTER TABLE {key["owner"]} ADD CONSTRAINT "{key["name"]}" {key["ddl"]}'
        )


def _parameters(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """Pick random lookup arguments matching the rows that _fill wrote."""
    files, tags = ctx.options.lookup_files, ctx.options.lookup_tags
    picks = [random.randint(1, files) for _ in range(SAMPLE_PARAMETERS)]
    deep = int(files * DEEP_PAGE_SHARE)

    async def page_starts(connection: Any) -> list[tuple[datetime, uuid.UUID]]:
        rows = await connection.fetch(
            f"""SELECT created_at, key FROM files ORDER BY created_at DESC, key DESC
                OFFSET {deep} LIMIT {SAMPLE_PARAMETERS}"""
        )
        return [(row["created_at"], row["key"]) for row in rows]

    return {
        "by key": [(uuid.UUID(hashlib.md5(f"k{g}".encode()).hexdigest()), None) for g in picks],
        "by hash": [(hashlib.sha256(f"b{g}".encode()).hexdigest(),) for g in picks],
        "by tag": [(f"tag-{random.randrange(tags)}",) for _ in picks],
        "deep page": sql.run(ctx.stack.database_url(), page_starts),
    }


def _time_queries(
    ctx: Context, statements: Sequence[str], parameters: list[tuple[Any, ...]]
) -> list[float]:
    """Run the statements for each parameter tuple, one at a time; return milliseconds each."""
    deadline_s = ctx.options.duration

    async def measure(connection: Any) -> list[float]:
        prepared = [await connection.prepare(statement) for statement in statements]
        latencies: list[float] = []
        stop = time.monotonic() + deadline_s
        while time.monotonic() < stop:
            args = random.choice(parameters)
            started = time.perf_counter()
            for statement in prepared:
                count = len(statement.get_parameters())
                await statement.fetch(*args[:count])
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    return sql.run(ctx.stack.database_url(), measure)


def _has_listing(server: Server) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/files?limit=1", timeout=10) as response:
            return "items" in json.loads(response.read())
    except (OSError, ValueError):
        return False
