"""Sample a server with py-spy while load runs, and summarize where its time went."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench.progress import step

__all__ = ["profile_while"]

T = TypeVar("T")
TOP_FRAMES = 15


def profile_while(pid: int, output: Path, load: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Run `load` while py-spy samples process `pid`; write collapsed stacks to `output`.

    The collapsed-stack file opens in speedscope or flamegraph.pl. The summary
    lists the frames with the most samples, by self time and by inclusive time.
    """
    # py-spy installs next to the interpreter, which need not be on PATH.
    beside = Path(sys.executable).with_name("py-spy")
    binary = str(beside) if beside.exists() else shutil.which("py-spy")
    if binary is None:
        raise RuntimeError("py-spy not found: install the bench extra (bench/setup)")

    step(f"profiling process {pid} with py-spy into {output}")
    sampler = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        outcome = load()
    finally:
        # py-spy writes its file when it gets SIGINT, as after Ctrl-C.
        sampler.send_signal(signal.SIGINT)
        _, errors = sampler.communicate(timeout=60)
    if not output.exists():
        raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")
    return outcome, summarize(output)


def summarize(collapsed: Path) -> dict[str, Any]:
    """Count samples per frame: self (the frame on top) and inclusive (anywhere on the stack)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "share": round(count / total, 3)}
            for frame, count in counter.most_common(TOP_FRAMES)
        ]

    return {"file": collapsed.name, "samples": total, "self": top(own), "inclusive": top(inclusive)}
