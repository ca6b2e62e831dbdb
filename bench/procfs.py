"""Counters of a running process, read from /proc (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "io_counters", "memory_kib", "reset_peak_rss"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS; returns False where the kernel does not allow it.

    Writing 5 to clear_refs resets the peak (Linux 4.0 and later, see proc(5));
    it needs the same user as the process or CAP_SYS_PTRACE.
    """
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    current = memory_kib(pid)
    return current["VmHWM"] <= current["VmRSS"] + 1024


def io_counters(pid: int) -> dict[str, int]:
    """Return /proc/PID/io: write_bytes counts pages dirtied for storage,
    cancelled_write_bytes those truncated (a deleted file) before write-back."""
    counters: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        counters[name] = int(value)
    return counters


def cpu_seconds(pid: int) -> float:
    """Return user plus system CPU time of a process and its threads, in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name in brackets may hold spaces, so split after its closing bracket.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS
