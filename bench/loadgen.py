"""Load generators for uploads and large downloads, run as their own process so that
their CPU is measured apart from the server's.

    python -m bench.loadgen large --port P --file F --mode raw|multipart
    python -m bench.loadgen small --port P --concurrency C --duration S --size 4096
    python -m bench.loadgen download --port P --path /files/KEY --connections 4 --duration S

Each prints one JSON line. All speak HTTP/1.1 over plain sockets. The large
upload sends the file with sendfile(2), the small uploads reuse one keep-alive
connection per client, and downloads read 1 MiB per call. The client so costs
little CPU per request or per byte.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stats import percentile

BOUNDARY = "bench-boundary-7d9f"
READ_BUFFER_BYTES = 1024 * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _parse_head(head: bytes) -> tuple[int, int]:
    """Return the status code and Content-Length of a response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    return status, length


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("connection closed before the response head")
        buffer += data
    head, _, body = buffer.partition(b"\r\n\r\n")
    status, length = _parse_head(head)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("connection closed inside the response body")
        body += data
    return status, body


def upload_large(port: int, path: str, file: Path, mode: str) -> dict[str, Any]:
    """Upload one file and return the seconds from first byte sent to response received."""
    size = file.stat().st_size
    if mode == "multipart":
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        before = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nbench\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        after = f"\r\n--{BOUNDARY}--\r\n".encode()
    else:
        content_type = "application/octet-stream"
        before = after = b""
        path += ("&" if "?" in path else "?") + f"filename={file.name}&tags=bench"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(before) + size + len(after)}\r\nConnection: close\r\n\r\n"
    ).encode()

    cpu_before = _cpu_seconds()
    with socket.create_connection(("127.0.0.1", port)) as sock, file.open("rb") as source:
        started = time.perf_counter()
        sock.sendall(head + before)
        sock.sendfile(source)
        sock.sendall(after)
        status, body = _read_response(sock)
        seconds = time.perf_counter() - started
    return {
        "status": status,
        "seconds": seconds,
        "bytes": size,
        "client_cpu_seconds": _cpu_seconds() - cpu_before,
        "response": json.loads(body) if body.startswith(b"{") else body.decode(errors="replace"),
    }


async def _small_client(
    port: int,
    request_head: bytes,
    body: bytearray,
    prefix: bytes,
    window: tuple[float, float, float],
    latencies: list[float],
    failures: list[int],
) -> None:
    warm_until, measure_until, _ = window
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sequence = 0
    try:
        while time.monotonic() < measure_until:
            sequence += 1
            # Every upload carries new content: identical bodies would all queue on
            # one blob row's lock, which measures the lock, not the upload path.
            body[: len(prefix) + 8] = prefix + sequence.to_bytes(8, "big")
            started = time.perf_counter()
            writer.write(request_head + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = _parse_head(head[:-4])
            await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if warm_until <= time.monotonic() <= measure_until:
                if status == 201:
                    latencies.append(elapsed)
                else:
                    failures.append(status)
    finally:
        writer.close()


async def upload_small(
    port: int, concurrency: int, duration: float, warmup: float, size: int
) -> dict[str, Any]:
    """Keep `concurrency` clients uploading `size`-byte files for `duration` seconds."""
    request_head = (
        f"POST /files?filename=small.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    run_id = uuid.uuid4().bytes[:8]
    now = time.monotonic()
    window = (now + warmup, now + warmup + duration, now)
    latencies: list[float] = []
    failures: list[int] = []

    cpu_before = _cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(
        *(
            _small_client(
                port,
                request_head,
                bytearray(os.urandom(size)),
                run_id + client.to_bytes(4, "big"),
                window,
                latencies,
                failures,
            )
            for client in range(concurrency)
        )
    )
    return {
        "uploads": len(latencies),
        "failures": len(failures),
        "failure_statuses": sorted(set(failures)),
        "seconds": duration,
        "uploads_per_second": len(latencies) / duration,
        "p50_ms": percentile(latencies, 0.50) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
        "client_cpu_share": (_cpu_seconds() - cpu_before) / (time.monotonic() - started),
    }


def _download_client(port: int, path: str, deadline: float, totals: list[int]) -> None:
    """Fetch `path` over one keep-alive connection until the deadline, counting body bytes."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    buffer = bytearray(READ_BUFFER_BYTES)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while time.monotonic() < deadline:
            sock.sendall(request)
            received = 0
            while b"\r\n\r\n" not in buffer[:received]:
                received += sock.recv_into(view[received:], 65536)
            head_end = buffer.index(b"\r\n\r\n", 0, received) + 4
            status, length = _parse_head(bytes(buffer[: head_end - 4]))
            if status != 200:
                raise RuntimeError(f"GET {path} returned status {status}, expected 200")
            remaining = length - (received - head_end)
            while remaining > 0:
                count = sock.recv_into(view, min(remaining, READ_BUFFER_BYTES))
                if not count:
                    raise RuntimeError("connection closed inside the response body")
                remaining -= count
            totals.append(length)


def download(port: int, path: str, connections: int, duration: float) -> dict[str, Any]:
    """Download `path` repeatedly over `connections` connections for `duration` seconds.

    wrk reads responses 8 KiB at a time, which on a two-core machine caps large
    downloads below what nginx serves. This client reads 1 MiB per recv call.
    A response still arriving at the deadline is finished and counted.
    """
    totals: list[int] = []
    cpu_before = _cpu_seconds()
    started = time.monotonic()
    threads = [
        threading.Thread(target=_download_client, args=(port, path, started + duration, totals))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    return {
        "responses": len(totals),
        "bytes": sum(totals),
        "seconds": seconds,
        "megabytes_per_second": sum(totals) / seconds / 1_000_000,
        "client_cpu_seconds": _cpu_seconds() - cpu_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    commands = parser.add_subparsers(dest="command", required=True)
    large = commands.add_parser("large", help="upload one file")
    large.add_argument("--port", type=int, required=True)
    large.add_argument("--path", default="/files", help="request path of the upload route")
    large.add_argument("--file", type=Path, required=True)
    large.add_argument("--mode", choices=["raw", "multipart"], default="raw")
    small = commands.add_parser("small", help="many small uploads from concurrent clients")
    small.add_argument("--port", type=int, required=True)
    small.add_argument("--concurrency", type=int, default=16)
    small.add_argument("--duration", type=float, default=10, help="measured seconds")
    small.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first")
    small.add_argument("--size", type=int, default=4096, help="bytes per upload")
    fetch = commands.add_parser("download", help="download one path over several connections")
    fetch.add_argument("--port", type=int, required=True)
    fetch.add_argument("--path", required=True)
    fetch.add_argument("--connections", type=int, default=4)
    fetch.add_argument("--duration", type=float, default=10, help="seconds")
    args = parser.parse_args()

    if args.command == "large":
        result = upload_large(args.port, args.path, args.file, args.mode)
    elif args.command == "download":
        result = download(args.port, args.path, args.connections, args.duration)
    else:
        import uvloop

        result = uvloop.run(
            upload_small(args.port, args.concurrency, args.duration, args.warmup, args.size)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
