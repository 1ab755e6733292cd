"""Fixtures shared by the robustness tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the root, holding files the checker must never read or write."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder
