"""Run the API under uvicorn: workers, the metrics directory, signals and logging.

SIGTERM (or SIGINT) stops the server gracefully. It stops accepting
connections, lets in-flight requests finish for up to SHUTDOWN_TIMEOUT_S and
cancels what is left. Then the application's shutdown removes the temp files
of cut-off uploads and closes the database pool.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from starlette.applications import Starlette

from blobstore.config import Settings
from blobstore.logs import configure_logging
from blobstore.metrics import MULTIPROC_DIR_VARIABLE

__all__ = ["create_worker_app", "run"]

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


HTTP_KEEP_ALIVE_S = 5


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the API until a stop signal, then return once the server has shut down."""
    import uvicorn

    from blobstore.zerocopy import ZeroCopyHttpToolsProtocol

    with _metrics_directory(workers), _stop_signals_end_cleanly():
        logger.info(
            "starting on %s:%d with %d worker(s), graceful shutdown timeout %ds",
            host,
            port,
            workers,
            settings.shutdown_timeout_s,
        )
        uvicorn.run(
            "blobstore.server:create_worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            # httptools, plus sendfile(2) for downloads.
            http=ZeroCopyHttpToolsProtocol,
            # Logging is ours (blobstore.logs), and the access log comes from
            # the request middleware, so uvicorn must not add a second line.
            log_config=None,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
            # An idle keep-alive connection is closed after this many seconds. A
            # stalled request body is cut off by UPLOAD_IDLE_TIMEOUT_S in the app.
            timeout_keep_alive=HTTP_KEEP_ALIVE_S,
        )
    logger.info("stopped")


def create_worker_app() -> Starlette:
    """Build the app in a worker process, which starts without the parent's logging setup."""
    from blobstore.api.app import create_app

    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """Give several workers a fresh, private PROMETHEUS_MULTIPROC_DIR, removed afterwards.

    prometheus-client reads the variable when it is first imported, so it must
    be set before uvicorn spawns the workers. This process imported it earlier,
    which does no harm because it never serves metrics. A directory that the
    operator set is used as it is and left in place.
    """
    if workers == 1 or os.environ.get(MULTIPROC_DIR_VARIABLE):
        yield
        return

    directory = tempfile.mkdtemp(prefix="blobstore-metrics-")
    os.environ[MULTIPROC_DIR_VARIABLE] = directory
    logger.info("collecting metrics of %d workers in %s", workers, directory)
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    """Make a stop signal that uvicorn handled end the process with status 0.

    After a graceful shutdown, uvicorn raises the signal it caught again, so
    that the default handler would kill the process with it. This handler
    takes that signal instead, and the command returns normally.
    """

    def note(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s after shutdown", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, note) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
