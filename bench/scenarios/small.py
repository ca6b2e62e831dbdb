"""Small uploads from many clients: uploads/s and p50/p99 latency on PostgreSQL.

Baseline: pgbench running the database work of one upload
(bench/baselines/upload_transaction.sql) with as many clients, against the
same server. The relay runs during both when the tree has `blobstore relay`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from pathlib import Path

from bench import procfs
from bench.context import Context
from bench.processes import run_json, run_measured
from bench.profiling import profile_while
from bench.progress import step
from bench.record import Row, ScenarioResult, Series
from bench.stats import percentile

UPLOAD_BYTES = 4096
MIN_SHARE_OF_PGBENCH = 0.25
PGBENCH_SCRIPT = Path(__file__).resolve().parent.parent / "baselines" / "upload_transaction.sql"
PGBENCH_THREADS = 2


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("small", "Small uploads")
    stack = ctx.stack
    stack.empty_tables()
    if stack.relay_available():
        stack.kafka()
        stack.relay()
    else:
        result.notes.append(
            "This tree has no `blobstore relay` command, so these uploads ran without the "
            "relay publishing their outbox rows."
        )
    server = stack.blobstore()
    options = ctx.options

    for clients in options.concurrencies:
        rate = Series("blobstore", "uploads/s")
        p99 = Series("blobstore", "ms")
        p50 = Series("blobstore", "ms")
        base_rate = Series("pgbench, same transaction", "transactions/s")
        base_p99 = Series("pgbench, same transaction", "ms")
        base_p50 = Series("pgbench, same transaction", "ms")
        server_cpu: list[float] = []
        client_cpu: list[float] = []
        command = [
            sys.executable,
            "-m",
            "bench.loadgen",
            "small",
            "--port",
            str(server.port),
            "--concurrency",
            str(clients),
            "--duration",
            str(options.duration),
            "--size",
            str(UPLOAD_BYTES),
        ]
        for rep in range(options.repeat):
            cpu_before = procfs.cpu_seconds(server.pid)
            out, measured = run_json(command)
            server_cpu.append((procfs.cpu_seconds(server.pid) - cpu_before) / measured.seconds)
            client_cpu.append(out["client_cpu_share"])
            if out["failures"]:
                result.notes.append(
                    f"{clients} clients, run {rep + 1}: {out['failures']} "
                    f"uploads failed with status {out['failure_statuses']}"
                )
            rate.samples.append(out["uploads_per_second"])
            p50.samples.append(out["p50_ms"])
            p99.samples.append(out["p99_ms"])
            step(
                f"small uploads, {clients} clients, {rep + 1}/{options.repeat}: "
                f"{out['uploads_per_second']:.0f} uploads/s, p99 {out['p99_ms']:.1f} ms"
            )

            tps, latencies = _pgbench(ctx, clients, rep)
            base_rate.samples.append(tps)
            base_p50.samples.append(percentile(latencies, 0.50))
            base_p99.samples.append(percentile(latencies, 0.99))
            step(f"pgbench, {clients} clients, {rep + 1}/{options.repeat}: {tps:.0f} tps")

        load = {
            "server_cpu_share_median": sorted(server_cpu)[len(server_cpu) // 2],
            "client_cpu_share_median": sorted(client_cpu)[len(client_cpu) // 2],
        }
        result.rows += [
            Row(
                f"4 KiB, {clients} clients: uploads/s vs pgbench",
                rate,
                base_rate,
                min_ratio=MIN_SHARE_OF_PGBENCH,
                extra=load,
            ),
            Row(f"4 KiB, {clients} clients: p50 latency", p50, base_p50),
            Row(f"4 KiB, {clients} clients: p99 latency", p99, base_p99),
        ]
        if options.profile and clients == options.concurrencies[0]:
            name = f"small-{clients}"
            _, summary = profile_while(
                server.pid,
                ctx.results_dir / f"profile-{name}.txt",
                functools.partial(run_json, command),
            )
            result.details.setdefault("profiles", {})[name] = summary
    return result


def _pgbench(ctx: Context, clients: int, rep: int) -> tuple[float, list[float]]:
    """Run pgbench for the scenario's duration; return tps and per-transaction latencies in ms."""
    binary = shutil.which("pgbench")
    if binary is None:
        raise RuntimeError("pgbench not found: run bench/setup")
    url = ctx.stack.database_url()
    log_dir = ctx.workdir / "pgbench" / f"{clients}-{rep}"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
    }

    measured = run_measured(
        [
            binary,
            "--no-vacuum",
            "--protocol=prepared",
            f"--file={PGBENCH_SCRIPT}",
            f"--client={clients}",
            f"--jobs={PGBENCH_THREADS}",
            f"--time={round(ctx.options.duration)}",
            "--log",
            f"--log-prefix={log_dir / 'tx'}",
        ],
        env=env,
    )
    match = re.search(r"tps = ([0-9.]+)", measured.stdout)
    if match is None:
        raise RuntimeError(f"no tps in pgbench output:\n{measured.stdout}")

    # Each log line: client, transaction number, latency in microseconds, script, time.
    latencies = [
        int(line.split()[2]) / 1000
        for log in log_dir.iterdir()
        for line in log.read_text().splitlines()
    ]
    return float(match.group(1)), latencies
