"""Progress on stderr for runs that take a while: `lotus-check: 120/480 files parsed`.

Shown only on an interactive terminal, and only once the run has lasted a second (a fast run
prints nothing). Never in pre-commit or CI logs: pre-commit hands hooks a pseudo-terminal for
colour, so a TTY alone does not mean a person is watching; `--progress` forces it on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import TextIO

DELAY_SECONDS = 1.0
REDRAW_SECONDS = 0.1


class Progress:
    """A `progress(done, total)` callable that redraws one status line on `stream`."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = DELAY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.delay = delay
        self.last_drawn: float | None = None
        self.width = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < self.delay:
            return
        if self.last_drawn is not None and now - self.last_drawn < REDRAW_SECONDS and done < total:
            return
        text = f"lotus-check: {done}/{total} files parsed"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
        self.last_drawn = now

    def close(self) -> None:
        """Erase the status line, so the report starts on a clean line."""
        if self.last_drawn is not None:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.last_drawn = None


def wants_progress(stream: TextIO, forced: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """`--progress`, or a person at a terminal: stderr is a TTY and we are not under
    pre-commit (it sets PRE_COMMIT=1), CI (CI=true) or a dumb terminal."""
    if forced:
        return True
    if environ.get("PRE_COMMIT") or environ.get("CI") or environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
