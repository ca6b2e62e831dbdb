"""Downloads: MB/s for a large file and requests/s for a 4 KiB file.

Baseline: nginx serving the same blob directory with sendfile, measured in
alternation with blobstore. Small files are fetched with wrk; the large file
with bench/loadgen.py, because wrk's 8 KiB reads make wrk itself the limit
there. The X-Accel-Redirect mode is measured in the same alternation: nginx
with deploy/nginx/blobstore.conf in front of a second blobstore that has
ACCEL_REDIRECT_PREFIX set, so blobstore checks each GET and nginx sends the
bytes.
"""

from __future__ import annotations

import functools
import sys
import urllib.request
from dataclasses import dataclass
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
MIN_SHARE_OF_NGINX_ACCEL = 0.8
ACCEL_REDIRECT_PREFIX = "/_blobstore_blobs/"


@dataclass
class Target:
    """A server that the load generator fetches from, and the series it fills."""

    server: Server
    throughput: Series
    p99: Series
    # The blobstore process whose CPU time counts for this target, if any.
    service: Server | None = None


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("download", "Downloads")
    stack = ctx.stack
    server = stack.blobstore()
    nginx = stack.nginx()
    accel_service = stack.blobstore(ACCEL_REDIRECT_PREFIX=ACCEL_REDIRECT_PREFIX)
    accel = stack.nginx_accel(accel_service)
    options = ctx.options

    large = _store(ctx, server, "download-large.bin", options.download_size)
    small = _store(ctx, server, "download-small.bin", SMALL_BYTES)
    _check_redirect(accel_service, small)
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
        targets = {
            "blobstore": Target(
                server, Series("blobstore", unit), Series("blobstore", "ms"), server
            ),
            "nginx": Target(
                nginx, Series("nginx, sendfile", unit), Series("nginx, sendfile", "ms")
            ),
            "accel": Target(
                accel,
                Series("nginx + blobstore, X-Accel-Redirect", unit),
                Series("nginx + blobstore, X-Accel-Redirect", "ms"),
                accel_service,
            ),
        }
        load: dict[str, list[float]] = {}
        for rep in range(options.repeat):
            for key, target in targets.items():
                _check_url(target.server, stored)
                service = target.service
                cpu_before = procfs.cpu_seconds(service.pid) if service else 0.0
                measured = _measure(ctx, target.server, stored, large=stored is large)
                # nginx serves from its worker processes, so the master's CPU time is no measure.
                if service is not None:
                    cpu = procfs.cpu_seconds(service.pid) - cpu_before
                    load.setdefault(f"server_cpu_share_{key}", []).append(cpu / measured["seconds"])
                load.setdefault(f"client_cpu_share_{key}", []).append(
                    measured["client_cpu_seconds"] / measured["seconds"]
                )
                target.throughput.samples.append(measured["value"])
                if measured["p99_ms"] is not None:
                    target.p99.samples.append(measured["p99_ms"])
                step(
                    f"download {label}, {target.server.name} {rep + 1}/{options.repeat}: "
                    f"{measured['value']:.0f} {unit}"
                )

        medians = {key: sorted(values)[len(values) // 2] for key, values in load.items()}
        accel_extra = {key: value for key, value in medians.items() if key.endswith("_accel")}
        extra = {key: value for key, value in medians.items() if key not in accel_extra}
        ours, theirs, accel_mode = targets["blobstore"], targets["nginx"], targets["accel"]
        result.rows.append(
            Row(f"{label}: {unit}", ours.throughput, theirs.throughput, min_ratio, extra=extra)
        )
        if ours.p99.samples:
            result.rows.append(Row(f"{label}: p99 latency", ours.p99, theirs.p99))
        result.rows.append(
            Row(
                f"X-Accel-Redirect mode, {label}: {unit}",
                accel_mode.throughput,
                theirs.throughput,
                MIN_SHARE_OF_NGINX_ACCEL,
                extra=accel_extra,
            )
        )
        if accel_mode.p99.samples:
            result.rows.append(
                Row(f"X-Accel-Redirect mode, {label}: p99 latency", accel_mode.p99, theirs.p99)
            )

        if options.profile:
            output = ctx.results_dir / f"profile-{name}.txt"
            _, summary = profile_while(
                server.pid,
                output,
                functools.partial(_measure, ctx, server, stored, large=stored is large),
            )
            result.details.setdefault("profiles", {})[name] = summary

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


def _check_redirect(service: Server, stored: dict[str, Any]) -> None:
    """Check that the service hands GETs to nginx, so the mode measured is the real one."""
    url = f"{service.url}/files/{stored['key']}"
    with urllib.request.urlopen(url, timeout=60) as response:
        redirect = response.headers.get("X-Accel-Redirect")
        body = response.read()
    if not redirect or not redirect.startswith(ACCEL_REDIRECT_PREFIX) or body:
        raise RuntimeError(f"{url} sent no X-Accel-Redirect: {redirect!r}, {len(body)} bytes")


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
