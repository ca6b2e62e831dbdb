"""Large uploads, raw body and multipart: MB/s and the server's peak RSS.

Baselines, measured in the same run: the machine's ceiling (a Python loop that
hashes and writes the same bytes with fsync, no HTTP) and the rebuilt original
design (bench/baselines/original.py). Runs alternate between blobstore and the
original design, so load from elsewhere on the machine hits both alike.
"""

from __future__ import annotations

import functools
import statistics
import sys
from pathlib import Path

from bench.context import Context, make_unique
from bench.processes import Server, run_json
from bench.profiling import profile_while
from bench.progress import step
from bench.record import Row, ScenarioResult, Series
from bench.stats import MEGABYTE, size_label
from bench.uploads import measure_upload, remove_blob

MODES = ("raw", "multipart")
# Targets: share of the ceiling, multiple of the original design, and the most
# memory an upload may add to the server, in MiB.
MIN_SHARE_OF_CEILING = 0.6
MIN_TIMES_ORIGINAL = 3.0
MAX_RSS_ABOVE_IDLE_MIB = 64
_TITLES = {"blobstore": "blobstore", "original": "original design"}


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("upload", "Large uploads")
    server = ctx.stack.blobstore()
    original = ctx.stack.original()

    for size in ctx.options.upload_sizes:
        source = ctx.source_file(f"upload-{size}.bin", size)
        ceiling = _ceiling(ctx, source)
        for mode in MODES:
            result.rows += _compare(ctx, (server, original), source, mode, ceiling)

        if ctx.options.profile and size == ctx.options.upload_sizes[0]:
            for mode in MODES:
                make_unique(source)
                name = f"upload-{mode}"
                measured, summary = profile_while(
                    server.pid,
                    ctx.results_dir / f"profile-{name}.txt",
                    functools.partial(measure_upload, server, source, mode),
                )
                remove_blob(ctx.stack.blob_dir, measured.response["sha256"])
                result.details.setdefault("profiles", {})[name] = summary

    result.notes.append(
        "The client sends the file with sendfile(2) over one connection; its CPU share and "
        "the server's are in each throughput row's extra fields (1.0 = one core)."
    )
    return result


def _ceiling(ctx: Context, source: Path) -> Series:
    ceiling = Series("hash + write + fsync loop", "MB/s")
    label = size_label(source.stat().st_size)
    for rep in range(ctx.options.repeat):
        step(f"upload {label}: ceiling loop {rep + 1}/{ctx.options.repeat}")
        command = [sys.executable, "-m", "bench.baselines.hashwrite", str(source)]
        out, _ = run_json([*command, str(ctx.stack.blob_dir / "tmp")])
        ceiling.samples.append(out["bytes"] / out["seconds"] / MEGABYTE)
    return ceiling


def _compare(
    ctx: Context, servers: tuple[Server, Server], source: Path, mode: str, ceiling: Series
) -> list[Row]:
    """Upload `source` to blobstore and to the original design in turn, `repeat` times each."""
    label = size_label(source.stat().st_size)
    speeds = {server.name: Series(f"{_TITLES[server.name]}, {mode}", "MB/s") for server in servers}
    peaks = {server.name: Series(f"{_TITLES[server.name]}, {mode}", "MiB") for server in servers}
    load: dict[str, list[float]] = {"server_cpu_share": [], "client_cpu_share": []}

    for rep in range(ctx.options.repeat):
        for server in servers:
            make_unique(source)
            measured = measure_upload(server, source, mode)
            remove_blob(_blob_dir(ctx, server), measured.response["sha256"])
            speeds[server.name].samples.append(measured.megabytes_per_second)
            peaks[server.name].samples.append(measured.rss_above_idle_mib)
            if server.name == "blobstore":
                load["server_cpu_share"].append(measured.server_cpu_share)
                load["client_cpu_share"].append(measured.client_cpu_share)
            step(
                f"upload {label} {mode} {server.name} {rep + 1}/{ctx.options.repeat}: "
                f"{measured.megabytes_per_second:.0f} MB/s, "
                f"peak RSS +{measured.rss_above_idle_mib:.0f} MiB"
            )

    ours, theirs = speeds["blobstore"], speeds["original"]
    extra = {f"{name}_median": statistics.median(values) for name, values in load.items()}
    return [
        Row(
            f"{label} {mode}: throughput vs ceiling",
            ours,
            ceiling,
            min_ratio=MIN_SHARE_OF_CEILING,
            extra=extra,
        ),
        Row(
            f"{label} {mode}: throughput vs original design",
            ours,
            theirs,
            min_ratio=MIN_TIMES_ORIGINAL,
        ),
        Row(
            f"{label} {mode}: peak RSS above idle",
            peaks["blobstore"],
            peaks["original"],
            max_value=MAX_RSS_ABOVE_IDLE_MIB,
        ),
    ]


def _blob_dir(ctx: Context, server: Server) -> Path:
    return ctx.stack.blob_dir if server.name == "blobstore" else ctx.stack.workdir / "original"
