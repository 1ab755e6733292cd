"""Ctrl-C in a terminal, for tests: a command started as a terminal's shell starts a foreground
job, interrupted once it reaches a given point."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def _sigint_as_in_a_terminal() -> None:
    """A shell starts a foreground command with SIGINT at its default. The test's own process
    may ignore it (a shell without job control starts background commands so, and an ignored
    signal stays ignored across exec): the command would then rightly ignore Ctrl-C too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_once_started(command: list[str], started: Path,
                           before: Callable[[int], None] | None = None,
                           ) -> tuple[int, str, float]:
    """Run `command` in a session of its own, wait until the file `started` exists, call
    `before(pid)`, then send SIGINT to its whole process group, as a terminal does on Ctrl-C.
    Returns its exit status, its stderr and the seconds it took to end after the signal."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               preexec_fn=_sigint_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not started.exists():
            time.sleep(0.05)
        assert started.exists(), "the command did not reach the point to interrupt"
        if before is not None:
            before(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        sent = time.monotonic()
        _out, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    return process.returncode, err, took
