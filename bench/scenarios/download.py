"""Downloads: MB/s for a large file and requests/s for a 4 KiB file.

Baseline: nginx serving the same blob directory with sendfile, measured in
alternation with blobstore. Small files are fetched with wrk; the large file
with bench/loadgen.py, because wrk's 8 KiB reads make wrk itself the limit
there. The optional X-Accel-Redirect mode (blobstore authorises, nginx sends)
is measured once the service has one.
"""

from __future__ import annotations

import functools
import sys
import urllib.request
from pathlib import Path
from typing import Any

from bench import procfs
from bench.context import Context
from bench.processes import Server, run_json
from bench.profiling import profile_while
from bench.progress import step
from bench.record import Row, ScenarioResult, Series
from bench.stats import size_label
from bench.wrk import run_wrk

SMALL_BYTES = 4096
LARGE_CONNECTIONS = 4
SMALL_CONNECTIONS = 64
MIN_SHARE_OF_NGINX_LARGE = 0.6
MIN_SHARE_OF_NGINX_SMALL = 0.15
SERVICE_SOURCE = Path(__file__).resolve().parents[2] / "blobstore"


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("download", "Downloads")
    stack = ctx.stack
    server = stack.blobstore()
    nginx = stack.nginx()
    options = ctx.options

    large = _store(ctx, server, "download-large.bin", options.download_size)
    small = _store(ctx, server, "download-small.bin", SMALL_BYTES)
    cases = [
        (
            "download-large",
            f"{size_label(options.download_size)} file, {LARGE_CONNECTIONS} connections",
            large,
            "MB/s",
            MIN_SHARE_OF_NGINX_LARGE,
        ),
        (
            "download-small",
            f"4 KiB file, {SMALL_CONNECTIONS} connections",
            small,
            "requests/s",
            MIN_SHARE_OF_NGINX_SMALL,
        ),
    ]

    for name, label, stored, unit, min_ratio in cases:
        ours, theirs = Series("blobstore", unit), Series("nginx, sendfile", unit)
        ours_p99, theirs_p99 = Series("blobstore", "ms"), Series("nginx, sendfile", "ms")
        load: dict[str, list[float]] = {}
        for rep in range(options.repeat):
            for target, series, p99 in ((server, ours, ours_p99), (nginx, theirs, theirs_p99)):
                _check_url(target, stored)
                cpu_before = procfs.cpu_seconds(target.pid)
                measured = _measure(ctx, target, stored, large=stored is large)
                cpu = procfs.cpu_seconds(target.pid) - cpu_before
                # nginx serves from its worker processes, so the master's CPU time is no measure.
                if target is server:
                    load.setdefault("server_cpu_share", []).append(cpu / measured["seconds"])
                load.setdefault(f"client_cpu_share_{target.name}", []).append(
                    measured["client_cpu_seconds"] / measured["seconds"]
                )
                series.samples.append(measured["value"])
                if measured["p99_ms"] is not None:
                    p99.samples.append(measured["p99_ms"])
                step(
                    f"download {label}, {target.name} {rep + 1}/{options.repeat}: "
                    f"{measured['value']:.0f} {unit}"
                )

        extra = {key: sorted(values)[len(values) // 2] for key, values in load.items()}
        result.rows.append(Row(f"{label}: {unit}", ours, theirs, min_ratio=min_ratio, extra=extra))
        if ours_p99.samples:
            result.rows.append(Row(f"{label}: p99 latency", ours_p99, theirs_p99))

        if options.profile:
            output = ctx.results_dir / f"profile-{name}.txt"
            _, summary = profile_while(
                server.pid,
                output,
                functools.partial(_measure, ctx, server, stored, large=stored is large),
            )
            result.details.setdefault("profiles", {})[name] = summary

    result.rows.append(Row("X-Accel-Redirect mode: share of nginx", Series("blobstore", "")))
    if _has_accel_redirect():
        result.notes.append(
            "The service source mentions X-Accel-Redirect, but this harness does not yet "
            "know how to turn it on, so the mode was not measured."
        )
    else:
        result.notes.append("X-Accel-Redirect mode: not available, the service has none yet.")
    return result


def _store(ctx: Context, server: Server, name: str, size: int) -> dict[str, Any]:
    """Upload a file of `size` random bytes and return its key and digest."""
    source = ctx.source_file(name, size)
    command = [sys.executable, "-m", "bench.loadgen", "large", "--port", str(server.port)]
    out, _ = run_json([*command, "--file", str(source), "--mode", "raw"])
    if out["status"] != 201:
        raise RuntimeError(f"storing {name} failed with {out['status']}: {out['response']}")
    response: dict[str, Any] = out["response"]
    return response


def _path(target: Server, stored: dict[str, Any]) -> str:
    if target.name == "nginx":
        sha256 = stored["sha256"]
        return f"/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    return f"/files/{stored['key']}"


def _check_url(target: Server, stored: dict[str, Any]) -> None:
    """Check with one HEAD request that the target serves the stored file whole."""
    url = target.url + _path(target, stored)
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=60) as response:
        length = int(response.headers["Content-Length"])
    if length != stored["size"]:
        raise RuntimeError(f"{url} serves {length} bytes, expected {stored['size']}")


def _measure(
    ctx: Context, target: Server, stored: dict[str, Any], *, large: bool
) -> dict[str, Any]:
    """Load the target for the scenario's duration; `value` is MB/s or requests/s."""
    path = _path(target, stored)
    duration = ctx.options.duration
    if large:
        out, _ = run_json(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "download",
                "--port",
                str(target.port),
                "--path",
                path,
                "--connections",
                str(LARGE_CONNECTIONS),
                "--duration",
                str(duration),
            ]
        )
        return {
            "value": out["megabytes_per_second"],
            "p99_ms": None,
            "seconds": out["seconds"],
            "client_cpu_seconds": out["client_cpu_seconds"],
        }

    measured = run_wrk(
        target.url + path, connections=SMALL_CONNECTIONS, duration=duration, scratch=ctx.workdir
    )
    if measured.errors or not measured.requests:
        raise RuntimeError(
            f"wrk against {target.name}: {measured.requests} requests, {measured.errors} errors"
        )
    return {
        "value": measured.requests_per_second,
        "p99_ms": measured.p99_ms,
        "seconds": measured.seconds,
        "client_cpu_seconds": measured.client_cpu_seconds,
    }


def _has_accel_redirect() -> bool:
    return any(
        "x-accel-redirect" in path.read_text().lower() for path in SERVICE_SOURCE.rglob("*.py")
    )
