"""The run context every scenario gets: options, servers and folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.services import Stack

__all__ = ["Context", "Options"]


@dataclass(frozen=True)
class Options:
    """Sizes, counts and durations of one run; `quick` picks the smoke-run defaults."""

    quick: bool
    repeat: int
    duration: float
    upload_sizes: list[int]
    download_size: int
    dedup_size: int
    concurrencies: list[int]
    lookup_files: int
    lookup_tags: int
    relay_events: int
    relay_batch: int
    latency_samples: int
    profile: bool


@dataclass
class Context:
    options: Options
    stack: Stack
    workdir: Path
    results_dir: Path

    def source_file(self, name: str, size: int) -> Path:
        """Return a file of `size` random bytes in the work folder, made once per run."""
        path = self.workdir / "sources" / name
        if path.exists() and path.stat().st_size == size:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as sink:
            remaining = size
            while remaining:
                chunk = min(remaining, 16 * 1024 * 1024)
                sink.write(os.urandom(chunk))
                remaining -= chunk
        return path


def make_unique(path: Path) -> None:
    """Overwrite the first 16 bytes with random ones, so the next upload is new content."""
    with path.open("r+b") as sink:
        sink.write(os.urandom(16))
