"""nginx configurations: the bare static peer, and the shipped X-Accel-Redirect setup.

The benchmark and tests/server/test_nginx_accel.py both run nginx as a child
process on a loopback port with a config written here. The X-Accel-Redirect
setup is deploy/nginx/blobstore.conf itself, with only its listen address,
upstream address and blob directory replaced, so what is measured and tested
is what operators install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["DEPLOY_CONFIG", "accel_servers", "find_nginx", "nginx_command", "static_server"]

DEPLOY_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "blobstore.conf"
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str:
    """Return the nginx binary: NGINX_BINARY if set, else nginx on PATH or in /usr/sbin."""
    configured = os.environ.get("NGINX_BINARY")
    if configured:
        return configured
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx not found: run bench/setup")
    return binary


def static_server(port: int, root: Path) -> str:
    """Return a server block that serves `root` as static files with sendfile."""
    return f"""
server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ }}
}}
"""


def accel_servers(port: int, upstream_port: int, blob_dir: Path) -> str:
    """Return deploy/nginx/blobstore.conf, listening on `port` in front of blobstore.

    Raises RuntimeError when a line to replace is not in the file exactly once,
    so that a change to the shipped config cannot go unnoticed here.
    """
    text = DEPLOY_CONFIG.read_text()
    text = _replace_once(text, "    listen 80;\n", f"    listen 127.0.0.1:{port};\n")
    text = _replace_once(
        text, "    server 127.0.0.1:8000;\n", f"    server 127.0.0.1:{upstream_port};\n"
    )
    return _replace_once(text, "        alias /data/files/;\n", f"        alias {blob_dir}/;\n")


def nginx_command(binary: str, prefix: Path, servers: str, *, workers: int = 1) -> list[str]:
    """Write an nginx.conf around `servers` under `prefix`; return the command that runs it.

    nginx stays in the foreground, so the caller owns the process, and keeps
    its pid file, temp files and logs under `prefix`.
    """
    temp = prefix / "temp"
    for name in _TEMP_DIRS:
        (temp / name).mkdir(parents=True, exist_ok=True)

    # nginx started by root would switch its workers to "nobody", which cannot
    # read the blobs (mode 0640, owned by the user that runs blobstore).
    user = "user root;" if os.geteuid() == 0 else ""
    config = prefix / "nginx.conf"
    config.write_text(f"""
daemon off;
{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    access_log {prefix}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{servers}
}}
""")
    return [binary, "-p", f"{prefix}/", "-c", str(config), "-e", str(prefix / "error.log")]


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    if count != 1:
        raise RuntimeError(f"{DEPLOY_CONFIG} contains {old.strip()!r} {count} times, expected once")
    return text.replace(old, new)
