"""The `blobstore` command: serve the API and run maintenance tasks."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

from blobstore import server
from blobstore.clock import utc_now
from blobstore.config import ConfigError, Settings
from blobstore.db import migrate
from blobstore.db.engine import create_engine
from blobstore.db.outbox import OutboxStatus, outbox_status
from blobstore.errors import RelayError
from blobstore.events.faults import FaultSwitch
from blobstore.events.relay import Relay
from blobstore.events.status import status_json, status_text
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

    relay = commands.add_parser(
        "relay",
        help="publish outbox events to Kafka until SIGTERM or SIGINT",
        description="Publish outbox events to KAFKA_BOOTSTRAP exactly once. Any number of "
        "relays may run: one publishes and the others wait to take over.",
    )
    relay.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 inside a container)",
    )
    relay.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this TCP port (default: off)",
    )
    relay.set_defaults(handler=_relay)

    outbox = commands.add_parser(
        "outbox", help="show pending events, the oldest one's age and the recorded offsets"
    )
    outbox.add_argument("--json", action="store_true", help="print one JSON object")
    outbox.set_defaults(handler=_outbox)

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


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    if settings.kafka_bootstrap is None:
        print(
            "blobstore: KAFKA_BOOTSTRAP is not set, so the relay has no Kafka to publish to; "
            "set it to HOST:PORT[,HOST:PORT...]. Events wait in the outbox meanwhile.",
            file=sys.stderr,
        )
        return 2
    try:
        faults = FaultSwitch.from_env()
    except ConfigError as exc:
        print(f"blobstore: {exc}", file=sys.stderr)
        return 2

    if settings.is_embedded:
        migrate.upgrade(settings.database_url)
    if args.metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(args.metrics_port, addr=args.metrics_host)
        except OSError as exc:
            print(
                f"blobstore: serving metrics on {args.metrics_host}:{args.metrics_port} "
                f"failed: {exc}; pick another --metrics-port",
                file=sys.stderr,
            )
            return 2

    try:
        asyncio.run(_run_relay(settings, faults))
    except (migrate.SchemaOutOfDate, RelayError) as exc:
        print(f"blobstore: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run_relay(settings: Settings, faults: FaultSwitch) -> None:
    # SIGTERM and SIGINT only ask the relay to stop: a batch in progress
    # commits or aborts first, and the exit status is 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    engine = create_engine(settings.database_url, pool_size=2)
    try:
        await migrate.check_schema(settings.database_url, engine)
        await Relay(settings, engine, faults=faults).run(stop)
    finally:
        await engine.dispose()


def _outbox(settings: Settings, args: argparse.Namespace) -> int:
    if settings.is_embedded:
        migrate.upgrade(settings.database_url)

    async def read() -> OutboxStatus:
        engine = create_engine(settings.database_url, pooled=False)
        try:
            async with engine.connect() as conn:
                return await outbox_status(conn)
        finally:
            await engine.dispose()

    status = asyncio.run(read())
    now = utc_now()
    if args.json:
        print(json.dumps(status_json(status, now)))
    else:
        print(status_text(status, now))
    return 0
