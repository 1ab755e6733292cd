"""The bundled generator's `--check` compares the way LL201/LL205 do: content, then bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import copy_reference

GENERATOR = "orchestration/airbyte/generate-catalog.py"
CATALOG = "orchestration/assets/streams/shopify/_catalog.json"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, GENERATOR, "--check"], cwd=root, capture_output=True, text=True
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_reference(tmp_path)


def test_committed_catalogs_are_current(tree: Path) -> None:
    result = _check(tree)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text.replace('"selected": true', '"selected": 1', 1), "content differs"),
        (lambda text: text.replace('"full_refresh"', '"incremental"', 1), "content differs"),
        (lambda text: text.replace("\n", "\r\n"), "formatting only, same JSON"),
        (lambda text: text[: len(text) // 2], "not valid JSON"),
    ],
)
def test_check_names_the_kind_of_difference(tree: Path, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tree / CATALOG
    before = path.read_bytes()
    path.write_bytes(edit(before.decode()).encode())
    result = _check(tree)
    assert result.returncode == 1
    assert f"shopify/_catalog.json is out of date ({reason})" in result.stdout
    assert path.read_bytes() != before  # --check wrote nothing back


def test_check_reports_a_missing_catalog(tree: Path) -> None:
    (tree / CATALOG).unlink()
    result = _check(tree)
    assert result.returncode == 1
    assert "(missing)" in result.stdout
    assert not (tree / CATALOG).exists()
