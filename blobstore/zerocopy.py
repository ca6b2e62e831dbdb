"""Zero-copy response bodies: uvicorn's httptools protocol with sendfile(2).

uvicorn writes every body chunk through Python, so a download costs a read
into a bytes object, a write into the socket and a thread hop per chunk.
This protocol offers the ASGI `http.response.zerocopysend` extension
instead: the app hands over an open file, offset and count, and the kernel
copies the pages from the page cache to the socket. The protocol also corks
the socket while a response is written, so that headers and a small body
leave as one packet.

The extension is offered only on plain TCP connections (sendfile would
bypass TLS), and the response's headers must carry a Content-Length. The
protocol reads and updates attributes of uvicorn's `RequestResponseCycle`
(its transport, state flags and count of body bytes still due). The tests
in tests/server/test_zero_copy.py fail on an uvicorn release that changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from blobstore.errors import StorageError
from blobstore.metrics import DOWNLOAD_BYTES

__all__ = ["EXTENSION", "ZeroCopyHttpToolsProtocol"]

EXTENSION = "http.response.zerocopysend"

# One sendfile call per slice, each in a worker thread: the call may wait for
# the disk when the pages are not cached, which must not stall the event loop.
SLICE_BYTES = 8 * 1024 * 1024
# A range this small is sent straight from the event loop, because the socket
# usually takes it whole and its pages are usually cached, so a thread hop
# would cost more than the call.
INLINE_BYTES = 64 * 1024
# How long to wait, polling, for uvicorn's own write buffer to empty before
# the file's bytes may follow the bytes already queued.
BUFFER_POLL_S = 0.001

_DISCONNECTED = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)


class ZeroCopyHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus `http.response.zerocopysend` on plain TCP."""

    _socket: socket.socket | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)

        # uvloop's transport hands out a socket wrapper that builds a new
        # socket object on each setsockopt call, and fails once uvloop has
        # closed the descriptor. A duplicate of our own is cheaper per request
        # and fails with a plain OSError.
        raw = transport.get_extra_info("socket")
        if raw is not None and transport.get_extra_info("sslcontext") is None:
            self._socket = socket.socket(fileno=os.dup(raw.fileno()))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._socket is not None:
            self._socket.close()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self._socket is not None:
            app = _ZeroCopyApp(app, cycle, self._socket)
        super()._start_asgi_task(cycle, app)


class _ZeroCopyApp:
    """Wraps the app for one request: declares the extension and carries it out."""

    def __init__(self, app: Any, cycle: RequestResponseCycle, sock: socket.socket) -> None:
        self.app = app
        self.cycle = cycle
        self.socket = sock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        extensions = scope.get("extensions") or {}
        scope["extensions"] = {**extensions, EXTENSION: {}}

        async def send_or_sendfile(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._cork(True)
            if kind == EXTENSION:
                await self._sendfile(message)
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send(message)
            if kind != "http.response.start" and not message.get("more_body", False):
                self._cork(False)

        await self.app(scope, receive, send_or_sendfile)

    def _cork(self, on: bool) -> None:
        """Set or clear TCP_CORK, which holds back partial packets while a response is written.

        uvicorn writes the headers and each body part separately. On loopback,
        each extra packet costs about as much as serving a small file, so a
        small response should leave as one packet.
        """
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, on)

    async def _sendfile(self, message: Any) -> None:
        cycle = self.cycle
        file = message["file"]
        fd = file if isinstance(file, int) else file.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset

        # Once the client has gone, uvicorn drops every message unseen, even
        # the response start, so nothing below would hold.
        if cycle.disconnected:
            return
        if not cycle.response_started or cycle.chunked_encoding is not False:
            raise RuntimeError(f"{EXTENSION} needs a started response with a Content-Length")
        if count > cycle.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        # Counted as sent even if the client leaves: the final empty body
        # message then completes the response as uvicorn expects.
        cycle.expected_content_length -= count

        if cycle.scope["method"] == "HEAD" or count == 0:
            return

        transport = cycle.transport
        # Nothing signals an empty write buffer, so it is polled; the buffer
        # is almost always empty here, as the headers fit in the socket.
        while transport.get_write_buffer_size() and not transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(BUFFER_POLL_S)
        if transport.is_closing():
            return

        # The protocol closes its socket when the client leaves, and the number
        # may then be reused by another connection while sendfile runs in a
        # worker thread. A duplicate taken here, on the event loop, names this
        # connection until it is closed below.
        socket_fd = os.dup(self.socket.fileno())
        try:
            await _send_range(socket_fd, fd, offset, count, transport)
        except OSError as exc:
            if exc.errno not in _DISCONNECTED:
                raise
            # The client went away; uvicorn notices on its own and drops the
            # rest of the response.
            transport.close()
        finally:
            os.close(socket_fd)


async def _send_range(
    socket_fd: int, fd: int, offset: int, count: int, transport: asyncio.Transport
) -> None:
    """Send `count` bytes of `fd` from `offset` down the non-blocking socket.

    Stops early once the transport is closing, as the rest would go nowhere.
    """
    loop = asyncio.get_running_loop()
    while count and not transport.is_closing():
        if count <= INLINE_BYTES:
            sent = _send_until_full(socket_fd, fd, offset, count)
        else:
            sent = await _finish_in_thread(loop, socket_fd, fd, offset, count)
        offset += sent
        count -= sent
        DOWNLOAD_BYTES.labels("sendfile").inc(sent)
        if count:
            await _writable(loop, socket_fd)


async def _finish_in_thread(
    loop: asyncio.AbstractEventLoop, socket_fd: int, fd: int, offset: int, count: int
) -> int:
    """Run `_send_until_full` in a worker thread, which a cancellation does not abandon.

    The caller closes both descriptors once this returns or raises. If the
    thread were still running then, a reused descriptor number could make it
    read another file or write to another client.
    """
    future = loop.run_in_executor(None, _send_until_full, socket_fd, fd, offset, count)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        raise


def _send_until_full(socket_fd: int, fd: int, offset: int, count: int) -> int:
    """Call sendfile until the socket buffer is full or all is sent; return the bytes sent."""
    total = 0
    while total < count:
        try:
            sent = os.sendfile(socket_fd, fd, offset + total, min(SLICE_BYTES, count - total))
        except BlockingIOError:
            break
        if sent == 0:
            raise StorageError(
                f"file ended {count - total} bytes before the range to send; "
                "it was truncated during the download"
            )
        total += sent
    return total


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)
