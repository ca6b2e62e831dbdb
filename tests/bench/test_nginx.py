"""bench/nginx.py: the shipped X-Accel-Redirect config with loopback addresses filled in."""

from __future__ import annotations

import re
from pathlib import Path

from bench.nginx import DEPLOY_CONFIG, accel_servers
from blobstore.config import Settings


def test_accel_servers_replaces_addresses_and_blob_dir() -> None:
    text = accel_servers(18101, 18102, Path("/srv/blobs"))

    assert "    listen 127.0.0.1:18101;\n" in text
    assert "    server 127.0.0.1:18102;\n" in text
    assert "        alias /srv/blobs/;\n" in text
    assert "listen 80;" not in text
    assert "127.0.0.1:8000" not in text
    assert "/data/files/" not in text


def test_internal_location_is_a_valid_prefix() -> None:
    text = DEPLOY_CONFIG.read_text()
    internal = re.findall(r"location (\S+) \{\n\s+internal;", text)

    assert internal == ["/_blobstore_blobs/"]
    settings = Settings.from_env({"ACCEL_REDIRECT_PREFIX": internal[0]})
    assert settings.accel_redirect_prefix == internal[0]
