"""The `blobstore` command: serve the API and run maintenance tasks."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from blobstore import server
from blobstore.config import ConfigError, Settings
from blobstore.db import migrate
from blobstore.logs import configure_logging
from blobstore.maintenance import commands as maintenance

__all__ = ["main"]

logger = logging.getLogger("blobstore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"blobstore: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)

    command: int = args.handler(settings, args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blobstore", description="Content-addressed file service."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="number of worker processes")
    serve.set_defaults(handler=_serve)

    migrate_cmd = commands.add_parser(
        "migrate", help="apply pending database migrations to DATABASE_URL"
    )
    migrate_cmd.add_argument("--revision", default="head", help="target revision")
    migrate_cmd.set_defaults(handler=_migrate)

    maintenance.register(commands)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.workers < 1:
        print(f"blobstore: invalid --workers={args.workers}: must be at least 1", file=sys.stderr)
        return 2

    # Building the application parses the token keys and the inline allow-list,
    # so a bad value stops here with its variable named, not in every worker.
    from blobstore.api import create_app

    try:
        create_app(settings)
    except ConfigError as exc:
        print(f"blobstore: {exc}", file=sys.stderr)
        return 2

    # The embedded default migrates itself so that a first run needs no setup;
    # a shared server is migrated on purpose, by `blobstore migrate` or a job.
    if settings.is_embedded:
        migrate.upgrade(settings.database_url)

    server.run(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    logger.info("migrating %s to %s", settings.database_url_for_logs, args.revision)
    migrate.upgrade(settings.database_url, args.revision)
    return 0
