"""A one-line progress bar for long maintenance commands, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

BAR_WIDTH = 30
# Redrawing on every item would cost more than the work on small items.
REDRAW_INTERVAL_S = 0.1
CLEAR_LINE = "\r\x1b[K"


class Progress:
    """Counts finished items and redraws a status line on stderr.

    When stderr is not a terminal (a pipe, a log file, a test) nothing is
    drawn, so captured output holds only the command's results. Lines that
    the command prints through `echo` appear above the bar.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.out = out if out is not None else sys.stdout
        self.enabled = self.stream.isatty()
        self._clock = clock
        self._drawn_at: float | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= REDRAW_INTERVAL_S:
            self._draw(now)

    def echo(self, line: str) -> None:
        """Print a result line to the output, keeping the bar below it."""
        if self.enabled and self._drawn_at is not None:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
        print(line, file=self.out, flush=True)
        if self.enabled and self._drawn_at is not None:
            self._draw(self._clock())

    def close(self) -> None:
        """Draw the final count and end the bar's line."""
        if not self.enabled:
            return
        self._draw(self._clock())
        self.stream.write("\n")
        self.stream.flush()
        self.enabled = False

    def render(self) -> str:
        """Return the status line: label, bar, percentage and count."""
        if not self.total:
            return f"{self.label} {self.done}"
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {fraction:4.0%} {self.done}/{self.total}"

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        self.stream.write(CLEAR_LINE + self.render())
        self.stream.flush()
        self._drawn_at = now
