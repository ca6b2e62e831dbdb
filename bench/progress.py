"""Progress lines on stderr while a run goes on, with the time since the run began."""

from __future__ import annotations

import sys
import time

_STARTED = time.monotonic()


def step(message: str) -> None:
    """Print one progress line, prefixed with minutes and seconds since start."""
    elapsed = int(time.monotonic() - _STARTED)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)
