"""The command line's start-up checks, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from blobstore import cli


def test_serve_names_an_unusable_file_base_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A regular file where a directory is needed: no directory can be created under it.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("FILE_BASE_PATH", str(blocker / "files"))

    code = cli.main(["serve"])

    assert code == 2
    assert f"invalid FILE_BASE_PATH={blocker / 'files'}" in capsys.readouterr().err
