"""Large uploads, raw body and multipart: MB/s and the server's peak RSS.

Baselines, measured in the same run: the machine's ceiling (a Python loop that
hashes and writes the same bytes with fsync, no HTTP) and the rebuilt original
design (bench/baselines/original.py). Runs alternate between blobstore and the
original design, so load from elsewhere on the machine hits both alike.
"""

from __future__ import annotations

import statistics
import sys

from bench.context import Context, make_unique
from bench.processes import run_json
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


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("upload", "Large uploads")
    stack = ctx.stack
    server = stack.blobstore()
    original = stack.original()
    repeat = ctx.options.repeat

    for size in ctx.options.upload_sizes:
        label = size_label(size)
        source = ctx.source_file(f"upload-{size}.bin", size)

        ceiling = Series("hash + write + fsync loop", "MB/s")
        for rep in range(repeat):
            step(f"upload {label}: ceiling loop {rep + 1}/{repeat}")
            command = [sys.executable, "-m", "bench.baselines.hashwrite", str(source)]
            out, _ = run_json([*command, str(stack.blob_dir / "tmp")])
            ceiling.samples.append(out["bytes"] / out["seconds"] / MEGABYTE)

        for mode in MODES:
            ours = Series(f"blobstore, {mode}", "MB/s")
            theirs = Series(f"original design, {mode}", "MB/s")
            ours_rss = Series(f"blobstore, {mode}", "MiB")
            theirs_rss = Series(f"original design, {mode}", "MiB")
            server_cpu: list[float] = []
            client_cpu: list[float] = []
            for rep in range(repeat):
                for target, speed, rss in (
                    (server, ours, ours_rss),
                    (original, theirs, theirs_rss),
                ):
                    make_unique(source)
                    measured = measure_upload(target, source, mode)
                    speed.samples.append(measured.megabytes_per_second)
                    rss.samples.append(measured.rss_above_idle_mib)
                    base = stack.blob_dir if target is server else stack.workdir / "original"
                    remove_blob(base, measured.response["sha256"])
                    if target is server:
                        server_cpu.append(measured.server_cpu_share)
                        client_cpu.append(measured.client_cpu_share)
                    step(
                        f"upload {label} {mode} {target.name} {rep + 1}/{repeat}: "
                        f"{measured.megabytes_per_second:.0f} MB/s, "
                        f"peak RSS +{measured.rss_above_idle_mib:.0f} MiB"
                    )

            load = {
                "server_cpu_share_median": statistics.median(server_cpu),
                "client_cpu_share_median": statistics.median(client_cpu),
            }
            result.rows += [
                Row(
                    f"{label} {mode}: throughput vs ceiling",
                    ours,
                    ceiling,
                    min_ratio=MIN_SHARE_OF_CEILING,
                    extra=load,
                ),
                Row(
                    f"{label} {mode}: throughput vs original design",
                    ours,
                    theirs,
                    min_ratio=MIN_TIMES_ORIGINAL,
                ),
                Row(
                    f"{label} {mode}: peak RSS above idle",
                    ours_rss,
                    theirs_rss,
                    max_value=MAX_RSS_ABOVE_IDLE_MIB,
                ),
            ]

    result.notes.append(
        "The client sends the file with sendfile(2) over one connection; its CPU share and "
        "the server's are in each throughput row's extra fields (1.0 = one core)."
    )
    return result
