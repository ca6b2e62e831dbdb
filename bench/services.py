"""The servers of a run: PostgreSQL, Kafka, blobstore and its peers, all on loopback.

`Stack` starts each one on first use and stops everything it started when the
run ends, also on Ctrl-C or an error. PostgreSQL and Kafka come from the
project's scripts/postgres and scripts/kafka. A server that those scripts
already run is reused and left running, and the benchmark then works in a
database of its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import URL, make_url

from bench import sql
from bench.nginx import accel_servers, find_nginx, nginx_command, static_server
from bench.processes import Server, free_port
from bench.progress import step

__all__ = ["Stack"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "blobstore_bench"
# Uploads of a few GiB must pass the service's size check.
MAX_UPLOAD_MB = 8192
TABLES = ("file_tags", "files", "blobs", "outbox", "relay_offsets")


class Stack:
    """Starts servers on demand and stops them, newest first.

    PostgreSQL and Kafka live for the whole run; blobstore, its peers and the
    relay are stopped at the end of the scenario that started them.
    """

    def __init__(self, workdir: Path, *, workers: int = 1) -> None:
        self.workdir = workdir
        self.workers = workers
        self.blob_dir = workdir / "files"
        self.topic = f"bench-{uuid.uuid4().hex[:8]}"
        self._cleanups = contextlib.ExitStack()
        self._scenario_cleanups = contextlib.ExitStack()
        self._database_url: URL | None = None
        self._kafka: str | None = None

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        step("stopping servers")
        try:
            self._scenario_cleanups.close()
        finally:
            self._cleanups.close()

    def end_scenario(self) -> None:
        """Stop the servers a scenario started, so none of them loads the next one."""
        self._scenario_cleanups.close()
        self._scenario_cleanups = contextlib.ExitStack()

    # PostgreSQL and Kafka

    def database_url(self) -> URL:
        """Start PostgreSQL if needed and return the URL of a fresh, migrated bench database."""
        if self._database_url is None:
            server_url = make_url(self._project_service("postgres", "PostgreSQL"))
            url = server_url.set(database=BENCH_DATABASE)
            sql.execute(
                server_url,
                f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)",
                f"CREATE DATABASE {BENCH_DATABASE}",
            )
            self._cleanups.callback(
                sql.execute, server_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
            )
            subprocess.run(
                [sys.executable, "-m", "blobstore", "migrate"],
                env={**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)},
                check=True,
                capture_output=True,
            )
            self._database_url = url
        return self._database_url

    def empty_tables(self) -> None:
        """Delete every row the service wrote, so a scenario starts from empty tables."""
        sql.execute(self.database_url(), f"TRUNCATE {', '.join(TABLES)} CASCADE")

    def kafka(self) -> str:
        """Start Kafka if needed and return its bootstrap address."""
        if self._kafka is None:
            self._kafka = self._project_service("kafka", "Kafka")
        return self._kafka

    def create_topic(self, name: str, partitions: int = 3) -> None:
        """Create a Kafka topic unless it exists, so that no client waits for auto-creation."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.kafka()})
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
        try:
            futures[name].result(60)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _project_service(self, script: str, name: str) -> str:
        path = str(REPO_ROOT / "scripts" / script)
        status = subprocess.run([path, "status"], capture_output=True, text=True, check=False)
        if status.returncode == 0:
            step(f"using the {name} server that scripts/{script} already runs")
            return status.stdout.strip().splitlines()[-1]

        step(f"starting {name} (scripts/{script} start)")
        started = subprocess.run([path, "start"], capture_output=True, text=True, check=False)
        # Stop it even when start failed half-way, because the script cleans up what it began.
        self._cleanups.callback(subprocess.run, [path, "stop"], capture_output=True, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"scripts/{script} start failed:\n{started.stderr[-2000:]}")
        return started.stdout.strip().splitlines()[-1]

    # The service under test

    def service_env(self, **extra: str) -> dict[str, str]:
        """Return the environment that blobstore commands get in this run."""
        env = {
            **os.environ,
            "FILE_BASE_PATH": str(self.blob_dir),
            "DATABASE_URL": self.database_url().render_as_string(hide_password=False),
            "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
            "KAFKA_TOPIC": f"{self.topic}-stored",
            "KAFKA_DELETED_TOPIC": f"{self.topic}-deleted",
        }
        if self._kafka is not None:
            env["KAFKA_BOOTSTRAP"] = self._kafka
        env.update(extra)
        return env

    def blobstore(self, **env: str) -> Server:
        """Start `python -m blobstore serve` on a free port, until the scenario ends."""
        port = free_port()
        command = [sys.executable, "-m", "blobstore", "serve", "--port", str(port)]
        command += ["--workers", str(self.workers)]
        return self._start("blobstore", command, env=self.service_env(**env), port=port)

    def relay_available(self) -> bool:
        """Return whether this tree has a `blobstore relay` command."""
        probe = subprocess.run(
            [sys.executable, "-m", "blobstore", "relay", "--help"],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def relay(self, **env: str) -> Server:
        """Start `python -m blobstore relay`, publishing the outbox to this run's Kafka."""
        self.kafka()
        command = [sys.executable, "-m", "blobstore", "relay"]
        return self._start("relay", command, env=self.service_env(**env))

    # Peers and baselines

    def nginx(self) -> Server:
        """Start nginx serving the blob directory with sendfile, as the download peer."""
        port = free_port()
        servers = static_server(port, self.blob_dir)
        return self._start_nginx("nginx", port, servers)

    def nginx_accel(self, upstream: Server) -> Server:
        """Start nginx with deploy/nginx/blobstore.conf in front of `upstream` (blobstore)."""
        if upstream.port is None:
            raise ValueError(f"{upstream.name} listens on no port")
        port = free_port()
        servers = accel_servers(port, upstream.port, self.blob_dir)
        return self._start_nginx("nginx-accel", port, servers)

    def _start_nginx(self, name: str, port: int, servers: str) -> Server:
        prefix = self.workdir / name
        command = nginx_command(find_nginx(), prefix, servers, workers=self.workers)
        return self._start(name, command, port=port)

    def original(self) -> Server:
        """Start the rebuilt original design (bench/baselines/original.py) on a free port."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "bench.baselines.original",
            "--port",
            str(port),
            "--dir",
            str(self.workdir / "original"),
            "--kafka",
            self.kafka(),
            "--topic",
            f"{self.topic}-original",
        ]
        return self._start("original", command, port=port)

    def _start(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> Server:
        step(f"starting {name}" + (f" on 127.0.0.1:{port}" if port else ""))
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        server = Server.start(name, command, log=log, env=env, port=port, cwd=REPO_ROOT)
        self._scenario_cleanups.callback(server.stop)
        return server
