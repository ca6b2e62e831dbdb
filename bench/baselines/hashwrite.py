"""The machine's ceiling for storing an upload: hash and write a file, no HTTP.

Reads the source in 1 MiB chunks, updates sha256 and BLAKE3, writes each
chunk to a new file in the target directory, fsyncs it, then deletes it.
Prints the seconds taken and the CPU time used as one JSON line.

    python -m bench.baselines.hashwrite SOURCE TARGET_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import time
import uuid
from pathlib import Path

from blake3 import blake3

CHUNK_BYTES = 1024 * 1024


def hash_and_write(source: Path, target_dir: Path) -> dict[str, float | int | str]:
    target = target_dir / f"ceiling-{uuid.uuid4().hex}"
    sha256 = hashlib.sha256()
    blake = blake3()
    buffer = bytearray(CHUNK_BYTES)
    size = 0

    started = time.perf_counter()
    with source.open("rb", buffering=0) as reader:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            while count := reader.readinto(buffer):
                chunk = memoryview(buffer)[:count]
                sha256.update(chunk)
                blake.update(chunk)
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
                size += count
            os.fsync(fd)
        finally:
            os.close(fd)
    seconds = time.perf_counter() - started
    target.unlink()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "bytes": size,
        "sha256": sha256.hexdigest(),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.hashwrite")
    parser.add_argument("source", type=Path)
    parser.add_argument("target_dir", type=Path)
    args = parser.parse_args()
    args.target_dir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(hash_and_write(args.source, args.target_dir)))


if __name__ == "__main__":
    main()
