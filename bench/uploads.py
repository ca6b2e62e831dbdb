"""One measured large upload to a running server, with the server's CPU, memory and I/O."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procfs
from bench.processes import Server, run_json
from bench.stats import MEBIBYTE, MEGABYTE

__all__ = ["UploadMeasurement", "measure_upload"]


@dataclass(frozen=True)
class UploadMeasurement:
    response: dict[str, Any]
    seconds: float
    megabytes_per_second: float
    rss_above_idle_mib: float
    bytes_written: int
    server_cpu_share: float
    client_cpu_share: float


def measure_upload(server: Server, file: Path, mode: str) -> UploadMeasurement:
    """Upload `file` once and read the server's counters around it.

    The peak RSS is reset first (see procfs.reset_peak_rss), so the figure is
    this upload's peak minus the RSS the server had just before it.
    """
    pid = server.pid
    if not procfs.reset_peak_rss(pid):
        raise RuntimeError(f"cannot reset the peak RSS of process {pid}: /proc/{pid}/clear_refs")
    idle_kib = procfs.memory_kib(pid)["VmRSS"]
    io_before = procfs.io_counters(pid)
    cpu_before = procfs.cpu_seconds(pid)

    command = [sys.executable, "-m", "bench.loadgen", "large", "--port", str(server.port)]
    result, _ = run_json([*command, "--file", str(file), "--mode", mode])

    cpu = procfs.cpu_seconds(pid) - cpu_before
    io_after = procfs.io_counters(pid)
    peak_kib = procfs.memory_kib(pid)["VmHWM"]
    if result["status"] != 201:
        raise RuntimeError(
            f"upload to {server.name} returned status {result['status']}, expected 201: "
            f"{result['response']}"
        )

    seconds = result["seconds"]
    written = (io_after["write_bytes"] - io_before["write_bytes"]) - (
        io_after["cancelled_write_bytes"] - io_before["cancelled_write_bytes"]
    )
    return UploadMeasurement(
        response=result["response"],
        seconds=seconds,
        megabytes_per_second=result["bytes"] / seconds / MEGABYTE,
        rss_above_idle_mib=(peak_kib - idle_kib) * 1024 / MEBIBYTE,
        bytes_written=written,
        server_cpu_share=cpu / seconds,
        client_cpu_share=result["client_cpu_seconds"] / seconds,
    )


def remove_blob(base: Path, sha256: str) -> None:
    """Delete a stored blob file, so that repeated runs do not fill the disk."""
    with contextlib.suppress(FileNotFoundError):
        (base / sha256[:2] / sha256[2:4] / sha256).unlink()
