"""The machine and software versions a run measured, recorded beside its figures."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["describe"]

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin/postgres")
PACKAGES = (
    "blobstore",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "confluent-kafka",
    "blake3",
    "python-multipart",
)


def describe(workdir: Path) -> dict[str, Any]:
    """Return CPU model, cores, memory, kernel, disk and the versions of what was measured."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "disk": _filesystem(workdir),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "versions": _versions(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _filesystem(path: Path) -> str:
    output = _output(["df", "--output=source,fstype", str(path)])
    lines = output.splitlines()
    return " ".join(lines[-1].split()) if len(lines) > 1 else "unknown"


def _output(command: list[str]) -> str:
    if shutil.which(command[0]) is None and not Path(command[0]).exists():
        return ""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return (done.stdout + done.stderr).strip()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        import confluent_kafka

        versions["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass

    commit = _output(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _output(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "blobstore"])
    versions["blobstore_commit"] = commit + (" (blobstore/ modified)" if dirty else "")
    versions["postgresql"] = _output([str(POSTGRES_BIN), "--version"]) or "unknown"
    versions["kafka"] = _kafka_version()
    versions["nginx"] = _output(["nginx", "-v"]).removeprefix("nginx version: ") or "unknown"
    versions["wrk"] = (_output(["wrk", "-v"]).splitlines() or ["unknown"])[0].split(" [")[0]
    versions["pgbench"] = _output(["pgbench", "--version"]) or "unknown"
    return versions


def _kafka_version() -> str:
    configured = os.environ.get("KAFKA_VERSION")
    if configured:
        return configured
    script = (REPO_ROOT / "scripts" / "kafka").read_text()
    match = re.search(r'KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"', script)
    return match.group(1) if match else "unknown"
