"""Run wrk (the HTTP load generator from Debian) and read its results as JSON."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import run_measured

__all__ = ["WrkResult", "run_wrk"]

# wrk calls done() once at the end; it prints the totals as one JSON line, so no
# text report has to be parsed. Latencies are in microseconds.
_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
    '"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, latency:percentile(50),
    latency:percentile(99), latency.max))
end
"""

# With a list of paths, each request picks one at random, so a lookup scenario
# does not read the same row from cache every time.
_PATHS = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    errors: int
    p50_ms: float
    p99_ms: float
    client_cpu_seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / self.seconds / 1_000_000

    def to_json(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "bytes": self.bytes,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "client_cpu_seconds": self.client_cpu_seconds,
        }


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    scratch: Path,
    threads: int = 1,
    paths: Sequence[str] | None = None,
    timeout_s: int = 30,
) -> WrkResult:
    """Load `url` for `duration` seconds; with `paths`, each request takes a random one.

    One thread by default: on a two-core machine a second wrk thread would take
    the core that the server under test needs.
    """
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk not found on PATH: run bench/setup")

    script = scratch / "wrk.lua"
    text = _DONE
    if paths:
        path_file = scratch / "wrk-paths.txt"
        path_file.write_text("\n".join(paths) + "\n")
        text = _PATHS % path_file + text
    script.write_text(text)

    measured = run_measured(
        [
            binary,
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(duration))}s",
            f"--timeout={timeout_s}s",
            f"--script={script}",
            url,
        ],
        timeout=duration + timeout_s + 30,
    )
    totals = json.loads(measured.stdout.strip().splitlines()[-1])
    errors = sum(
        totals[name]
        for name in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return WrkResult(
        requests=totals["requests"],
        seconds=totals["duration_us"] / 1_000_000,
        bytes=totals["bytes"],
        errors=errors,
        p50_ms=totals["p50_us"] / 1000,
        p99_ms=totals["p99_us"] / 1000,
        client_cpu_seconds=measured.cpu_seconds,
    )
