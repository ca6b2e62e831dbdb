"""Summaries of repeated measurements: min, median, max and percentiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MEBIBYTE = 1024 * 1024
# Throughput is in decimal megabytes per second, as disk and network tools report it.
MEGABYTE = 1_000_000


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """Return min, median and max of the samples, and how many there are."""
    if not samples:
        raise ValueError("no samples to summarize")
    return {
        "n": len(samples),
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile, `fraction` between 0 and 1."""
    if not values:
        raise ValueError("no values for a percentile")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def parse_size(text: str) -> int:
    """Parse a byte count such as 4096, 4K, 256M or 1G (binary multiples)."""
    units = {"K": 1024, "M": MEBIBYTE, "G": 1024 * MEBIBYTE}
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = units.get(cleaned[-1:], 1)
    digits = cleaned[:-1] if cleaned[-1:] in units else cleaned
    try:
        value = int(float(digits) * factor)
    except ValueError:
        raise ValueError(f"invalid size {text!r}: expected a number with K, M or G") from None
    if value <= 0:
        raise ValueError(f"invalid size {text!r}: must be positive")
    return value


def size_label(size: int) -> str:
    """Format a byte count the way the options take it: 4 KiB, 256 MiB, 1 GiB."""
    for unit, factor in (("GiB", 1024 * MEBIBYTE), ("MiB", MEBIBYTE), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"
