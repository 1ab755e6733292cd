"""The package passes its own linters: CI runs this file as part of the README's test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed beside {sys.executable}: install the `test` extra")
    return found


def test_ruff_check_is_clean() -> None:
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "lotus_checks"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean() -> None:
    # The package's mypy settings (pyproject.toml) name what it checks; the cache goes to a
    # temporary folder so a stale one in the clone cannot hide an error.
    done = subprocess.run([_tool("mypy"), "--cache-dir", "/dev/null"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
