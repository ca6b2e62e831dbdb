"""`blobstore report`: print the reporting views as a table, CSV or JSON.

The views themselves live in the database (migration 0003), so analysts can
query them with any SQL client; docs/reporting.md lists their columns.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.clock import isoformat_utc
from blobstore.config import Settings
from blobstore.maintenance.runtime import Store, run_with_store

__all__ = ["FORMATS", "REPORTS", "Report", "ReportTable", "command", "fetch", "render"]

FORMATS = ("table", "csv", "json")
Value = str | int | float | None


@dataclass(frozen=True)
class Report:
    """A reporting view, the order its rows print in, and what it shows."""

    name: str
    view: str
    order_by: str
    description: str


REPORTS = {
    report.name: report
    for report in [
        Report(
            "storage_per_user",
            "report_storage_per_user",
            "logical_bytes DESC, user_id",
            "files, logical bytes and bytes after deduplication, per owner",
        ),
        Report(
            "dedup_ratio",
            "report_dedup_ratio",
            "files",
            "deduplication over all files, and bytes that garbage collection would free",
        ),
        Report(
            "dedup_by_content_type",
            "report_dedup_by_content_type",
            "logical_bytes DESC, content_type",
            "deduplication per stored content type",
        ),
        Report("tag_usage", "report_tag_usage", "files DESC, tag", "files and owners per tag"),
        Report(
            "uploads_per_day",
            "report_uploads_per_day",
            "day DESC",
            "files stored per UTC day that still exist",
        ),
        Report(
            "outbox_backlog",
            "report_outbox_backlog",
            "pending DESC, topic, event_type",
            "outbox events waiting for the relay, per topic and event type",
        ),
    ]
}


@dataclass(frozen=True)
class ReportTable:
    report: Report
    columns: list[str]
    rows: list[list[Value]]


async def fetch(conn: AsyncConnection, report: Report) -> ReportTable:
    """Read every row of a report's view, with values made plain for printing."""
    # Both names come from REPORTS above, never from the command line.
    query = f"SELECT * FROM {report.view} ORDER BY {report.order_by}"  # noqa: S608
    result = await conn.execute(text(query))
    columns = list(result.keys())
    rows = [
        [_plain(column, value) for column, value in zip(columns, row, strict=True)]
        for row in result
    ]
    return ReportTable(report, columns, rows)


def _plain(column: str, value: object) -> Value:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return isoformat_utc(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and column.endswith("_at"):
        # SQLite hands back times as the UTC text that SQLAlchemy stored.
        return isoformat_utc(datetime.fromisoformat(value).replace(tzinfo=UTC))
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def render(tables: Sequence[ReportTable], output_format: str) -> str:
    """Format reports as aligned text tables, CSV (one report only) or JSON."""
    if output_format == "json":
        objects = {
            t.report.name: [dict(zip(t.columns, row, strict=True)) for row in t.rows]
            for t in tables
        }
        only = objects[tables[0].report.name] if len(tables) == 1 else objects
        return json.dumps(only, indent=2)
    if output_format == "csv":
        if len(tables) != 1:
            raise ValueError(
                "CSV output contains one report; pass its name, as in 'report tag_usage'"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(tables[0].columns)
        writer.writerows(
            ["" if value is None else value for value in row] for row in tables[0].rows
        )
        return buffer.getvalue().rstrip("\n")
    return "\n\n".join(_text_table(table, heading=len(tables) > 1) for table in tables)


def _text_table(table: ReportTable, *, heading: bool) -> str:
    cells = [[_cell(value) for value in row] for row in table.rows]
    widths = [
        max([len(column)] + [len(row[i]) for row in cells])
        for i, column in enumerate(table.columns)
    ]
    numeric = [
        all(isinstance(row[i], int | float) for row in table.rows if row[i] is not None)
        and bool(table.rows)
        for i in range(len(table.columns))
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    lines = [f"{table.report.name}: {table.report.description}"] if heading else []
    lines += [line(table.columns), line(["-" * width for width in widths])]
    lines += [line(row) for row in cells] or ["(no rows)"]
    return "\n".join(lines)


def _cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `blobstore report [NAME]`."""
    if args.format == "csv" and args.name is None:
        names = ", ".join(REPORTS)
        print(f"blobstore: --format csv prints one report; name one of {names}", file=sys.stderr)
        return 2
    return run_with_store(settings, lambda store: _report(store, args))


async def _report(store: Store, args: argparse.Namespace) -> int:
    chosen = [REPORTS[args.name]] if args.name else list(REPORTS.values())
    async with store.engine.connect() as conn:
        tables = [await fetch(conn, report) for report in chosen]
    print(render(tables, args.format))
    return 0
