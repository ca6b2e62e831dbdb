"""The maintenance subcommands of `blobstore`: gc, fsck, import and report."""

from __future__ import annotations

import argparse
from typing import Any

from blobstore.maintenance import fsck, gc, importer, report
from blobstore.maintenance.runtime import parse_duration

__all__ = ["register"]

DEFAULT_GRACE = "1h"


def _duration(raw: str) -> Any:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(commands: Any) -> None:
    """Add the maintenance subcommands to the `blobstore` parser's subparsers."""
    gc_cmd = commands.add_parser(
        "gc",
        help="remove unreferenced blobs, orphan blob files and stale temp files",
        description="Remove unreferenced blobs, blob files without a row and stale temp "
        "files, each only when older than the grace period.",
    )
    gc_cmd.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    gc_cmd.add_argument(
        "--grace",
        type=_duration,
        default=parse_duration(DEFAULT_GRACE),
        help=f"minimum age of anything removed, such as 30m, 1h or 7d (default {DEFAULT_GRACE})",
    )
    gc_cmd.set_defaults(handler=gc.command)

    fsck_cmd = commands.add_parser(
        "fsck",
        help="check that every blob is present, of the right size and digest",
        description="Check every blob against its row; exit status 0 when clean, 1 otherwise.",
    )
    fsck_cmd.add_argument(
        "--repair",
        action="store_true",
        help="move corrupt blobs to <FILE_BASE_PATH>/quarantine and list the file keys affected",
    )
    fsck_cmd.add_argument(
        "--full", action="store_true", help="recompute each blob's sha256 as well as its blake3"
    )
    fsck_cmd.set_defaults(handler=fsck.command)

    import_cmd = commands.add_parser(
        "import",
        help="upload every file under a folder; a re-run skips files already imported",
        description="Upload every regular file under DIR through the normal upload path.",
    )
    import_cmd.add_argument("directory", metavar="DIR", help="folder to import")
    import_cmd.add_argument(
        "--user",
        default=importer.DEFAULT_USER,
        help=f"owner of the imported files (default {importer.DEFAULT_USER})",
    )
    import_cmd.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="tag for every imported file; repeat for more tags",
    )
    import_cmd.set_defaults(handler=importer.command)

    report_cmd = commands.add_parser(
        "report",
        help="print the reporting views",
        description="Print one reporting view, or all of them.",
    )
    report_cmd.add_argument(
        "name",
        nargs="?",
        choices=list(report.REPORTS),
        metavar="NAME",
        help=f"one of: {', '.join(report.REPORTS)} (default: all)",
    )
    report_cmd.add_argument(
        "--format", choices=report.FORMATS, default="table", help="output format (default table)"
    )
    report_cmd.set_defaults(handler=report.command)
