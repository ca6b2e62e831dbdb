"""The progress bar draws only on a terminal and keeps result lines above it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from blobstore.maintenance.progress import Progress
from blobstore.maintenance.runtime import format_bytes, parse_duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class StepClock:
    """A clock that moves one second per reading, so every advance redraws."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_progress_on_pipe_draws_nothing() -> None:
    stream = io.StringIO()
    out = io.StringIO()

    with Progress("files", 3, stream=stream, out=out) as progress:
        progress.advance()
        progress.echo("imported a.txt")

    assert stream.getvalue() == ""
    assert out.getvalue() == "imported a.txt\n"


def test_progress_on_terminal_draws_bar_and_final_count() -> None:
    terminal = Terminal()

    with Progress("files", 4, stream=terminal, out=io.StringIO(), clock=StepClock()) as progress:
        progress.advance()
        progress.advance(3)

    drawn = terminal.getvalue()
    assert "files [#######-----------------------]  25% 1/4" in drawn
    assert drawn.endswith("\r\x1b[Kfiles [##############################] 100% 4/4\n")


def test_progress_echo_clears_and_redraws_the_bar() -> None:
    terminal = Terminal()
    out = io.StringIO()
    progress = Progress("blobs", 2, stream=terminal, out=out, clock=StepClock())

    progress.advance()
    progress.echo("removed blob x")

    assert out.getvalue() == "removed blob x\n"
    assert terminal.getvalue().count("blobs [") == 2
    assert "1/2\r\x1b[K\r\x1b[Kblobs" in terminal.getvalue()


def test_progress_redraws_at_most_ten_times_a_second() -> None:
    terminal = Terminal()
    progress = Progress("files", None, stream=terminal, clock=lambda: 5.0)

    for _ in range(100):
        progress.advance()

    assert terminal.getvalue() == "\r\x1b[Kfiles 1"


def test_progress_without_total_shows_count() -> None:
    progress = Progress("shards", None, stream=io.StringIO())
    progress.advance(7)

    assert progress.render() == "shards 7"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", timedelta(0)),
        ("90", timedelta(seconds=90)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("7D", timedelta(days=7)),
    ],
)
def test_parse_duration_reads_units(raw: str, expected: timedelta) -> None:
    assert parse_duration(raw) == expected


@pytest.mark.parametrize("raw", ["", "h", "1.5h", "-1h", "1w", "1 h 2"])
def test_parse_duration_rejects_other_forms(raw: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB (1024 bytes)"),
        (5 * 1024**3 + 1, "5.0 GiB (5368709121 bytes)"),
        (3 * 1024**5, "3072.0 TiB (3377699720527872 bytes)"),
    ],
)
def test_format_bytes_picks_binary_unit(count: int, expected: str) -> None:
    assert format_bytes(count) == expected
