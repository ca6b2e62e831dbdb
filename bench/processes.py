"""Start, measure and stop the child processes of a run."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Measured", "Server", "free_port", "run_json", "run_measured", "wait_for_port"]

STOP_TIMEOUT_S = 20


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until something accepts connections on the port, or raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    """A long-running child, in its own session so that Ctrl-C reaches only the harness."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> Server:
        with log.open("ab") as sink:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        server = cls(name, process, log, port)
        if port is not None:
            try:
                wait_for_port(port, process, log, timeout)
            except BaseException:
                server.stop()
                raise
        return server

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass(frozen=True)
class Measured:
    """A finished command: its output, wall time and the CPU time it used."""

    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time: 1.0 is one core kept busy throughout."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> Measured:
    """Run a command to completion, raising with its stderr if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    seconds = time.monotonic() - started

    # The harness is single-threaded and its servers are reaped only when they
    # stop, so the growth of the reaped children's CPU time is this command's.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise RuntimeError(
            f"{command[0]} exited with {process.returncode}: {stderr.decode(errors='replace')}"
        )
    return Measured(stdout.decode(), stderr.decode(errors="replace"), seconds, cpu)


def run_json(command: Sequence[str], **options: Any) -> tuple[dict[str, Any], Measured]:
    """Run a command that prints one JSON object as its last stdout line, and parse it."""
    measured = run_measured(command, **options)
    lines = measured.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{command[0]} printed nothing; stderr: {measured.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result, measured
