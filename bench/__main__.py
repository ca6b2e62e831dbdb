"""python -m bench [SCENARIO ...] [options]: run benchmarks and record the results.

Raw results go to bench/results/<run id>.json; bench/results/latest.json keeps
the newest result of each scenario, and docs/benchmarks.md is regenerated
from it. Every server the run starts is stopped when it ends, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.context import Context, Options
from bench.machine import describe
from bench.progress import step
from bench.record import ScenarioResult
from bench.report import LATEST, write_report
from bench.scenarios import SCENARIOS
from bench.services import Stack
from bench.stats import MEBIBYTE, parse_size

RESULTS_DIR = LATEST.parent
MIN_REPEAT = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark blobstore against the machine's limits and peer servers. "
        "Run bench/setup once first.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"scenarios to run, all by default: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small sizes and 3-second measurements, to check the harness",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=MIN_REPEAT,
        help=f"repetitions of each measurement (default {MIN_REPEAT})",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds per load measurement (default 10, 3 with --quick)"
    )

    parser.add_argument(
        "--upload-sizes",
        help="large upload sizes, comma-separated (default 256M,1G; 256M with --quick)",
    )
    parser.add_argument("--download-size", help="large download size (default 256M; 64M quick)")
    parser.add_argument("--dedup-size", help="deduplicated upload size (default 1G; 256M quick)")
    parser.add_argument(
        "--concurrency",
        default="16,64",
        help="small-upload clients, comma-separated (default 16,64)",
    )
    parser.add_argument(
        "--lookup-files",
        type=int,
        help="file rows for lookups (default 1000000; 100000 with --quick)",
    )
    parser.add_argument(
        "--lookup-tags", type=int, default=10_000, help="distinct tags for lookups (default 10000)"
    )

    parser.add_argument(
        "--relay-events",
        type=int,
        help="outbox backlog for the relay (default 100000; 10000 with --quick)",
    )
    parser.add_argument(
        "--relay-batch",
        type=int,
        default=1000,
        help="messages per Kafka transaction, relay and producer (default 1000)",
    )

    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample the server with py-spy in scenarios that support it",
    )
    parser.add_argument("--note", help="remark stored with the run, such as what else was running")
    parser.add_argument(
        "--workdir", type=Path, help="parent folder for blobs and temp files (default: system temp)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep blobs and logs")
    parser.add_argument(
        "--no-docs", action="store_true", help="do not update latest.json or docs/benchmarks.md"
    )
    return parser


def _options(args: argparse.Namespace) -> Options:
    quick = args.quick
    upload_sizes = args.upload_sizes or ("256M" if quick else "256M,1G")
    return Options(
        quick=quick,
        repeat=args.repeat,
        duration=args.duration or (3.0 if quick else 10.0),
        upload_sizes=[parse_size(size) for size in upload_sizes.split(",")],
        download_size=parse_size(args.download_size or ("64M" if quick else "256M")),
        dedup_size=parse_size(args.dedup_size or ("256M" if quick else "1G")),
        concurrencies=[int(value) for value in args.concurrency.split(",")],
        lookup_files=args.lookup_files or (100_000 if quick else 1_000_000),
        lookup_tags=args.lookup_tags,
        relay_events=args.relay_events or (10_000 if quick else 100_000),
        relay_batch=args.relay_batch,
        latency_samples=20 if quick else 100,
        profile=args.profile,
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names, options, args = _arguments(argv)
    # SIGTERM takes the same path as Ctrl-C, so the servers are stopped either way. SIGINT
    # gets its handler back too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = RESULTS_DIR / f"{run_id}.json"
    workdir = Path(tempfile.mkdtemp(prefix="blobstore-bench-", dir=args.workdir))
    run: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "started": started.isoformat(timespec="seconds"),
        "note": args.note,
        "options": {
            **vars(options),
            "upload_sizes_mib": [size // MEBIBYTE for size in options.upload_sizes],
        },
        "machine": describe(workdir),
    }
    results: dict[str, Any] = {}
    step(f"run {run_id}: {', '.join(names)}; work folder {workdir}")

    try:
        with Stack(workdir) as stack:
            context = Context(options, stack, workdir, RESULTS_DIR)
            for index, name in enumerate(names, start=1):
                step(f"scenario {index}/{len(names)}: {name} ({SCENARIOS[name][0]})")
                results[name] = {**_run_scenario(name, context).to_json(), "run": run_id}
                output.write_text(json.dumps({"run": run, "scenarios": results}, indent=1))
    except KeyboardInterrupt:
        finished = f"finished scenarios are in {output}" if results else "no scenario finished"
        step(f"interrupted: servers stopped, {finished}")
        return 130
    finally:
        if args.keep_workdir:
            step(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    run["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    output.write_text(json.dumps({"run": run, "scenarios": results}, indent=1))
    step(f"results in {output}")
    if not args.no_docs:
        _update_latest(run_id, run, results)
        write_report()
        step("updated bench/results/latest.json and docs/benchmarks.md")
    return 1 if any(result["status"] == "failed" for result in results.values()) else 0


def _arguments(argv: list[str]) -> tuple[list[str], Options, argparse.Namespace]:
    """Parse and check the command line; exit with status 2 on a bad value."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    try:
        options = _options(args)
    except ValueError as exc:
        parser.error(str(exc))
    if options.repeat < 1 or options.duration <= 0:
        parser.error("--repeat must be at least 1 and --duration positive")
    if options.repeat < MIN_REPEAT:
        step(
            f"warning: --repeat {options.repeat} gives no min/median/max spread worth "
            f"publishing; use at least {MIN_REPEAT}"
        )
    return args.scenarios or list(SCENARIOS), options, args


def _run_scenario(name: str, context: Context) -> ScenarioResult:
    """Run one scenario and stop its servers; an error fails this scenario alone."""
    title, scenario = SCENARIOS[name]
    try:
        outcome = scenario(context)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        traceback.print_exc()
        step(f"scenario {name} failed: {exc}")
        return ScenarioResult(
            name, title, status="failed", notes=[f"failed: {type(exc).__name__}: {exc}"]
        )
    finally:
        context.stack.end_scenario()
    return outcome


def _update_latest(run_id: str, run: dict[str, Any], results: dict[str, Any]) -> None:
    """Keep the newest result of each scenario, with the runs they came from."""
    latest: dict[str, Any] = {"runs": {}, "scenarios": {}}
    if LATEST.exists():
        latest = json.loads(LATEST.read_text())
    scenarios = {**latest["scenarios"], **results}
    # Keep the order in which `python -m bench` runs the scenarios.
    latest["scenarios"] = {name: scenarios[name] for name in SCENARIOS if name in scenarios}
    runs = {**latest["runs"], run_id: run}
    used = {scenario["run"] for scenario in latest["scenarios"].values()}
    latest["runs"] = {key: value for key, value in runs.items() if key in used}
    LATEST.write_text(json.dumps(latest, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
