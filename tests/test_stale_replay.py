"""A warm run never replays stale findings: after an edit of any kind of input, the run with the
cache gives exactly the findings of a run without it (`--no-cache`).

Each case starts from a stored clean result of the reference tree (computed once, then copied
with its cache for every case, and shown to be replayed there), makes one edit that changes the
findings, and compares; then runs once more, so the result stored after the edit is checked too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lotus_checks import engine
from lotus_checks.core.config import load_config
from lotus_checks.engine import RunResult
from lotus_checks.engine import run
from tests.builders import CORE
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.conftest import codes

TERRAFORM = "orchestration/airbyte/terraform/connections.tf"
GENERATOR = "orchestration/airbyte/generate-catalog.py"


def replace(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# input kind -> an edit that changes the findings
EDITS = {
    # LL510: Terraform resets the connection while backfill is true.
    "stream config": lambda root: replace(
        root, f"{STREAMS}/shopify/orders.json", '"backfill": false', '"backfill": true'),
    # The stream config asks for a destination sync mode the source no longer offers.
    "source schema": lambda root: replace(
        root, f"{SOURCES}/shopify/orders.json", '      "append_dedup"\n', '      "append"\n'),
    # A hand edit of a generated catalog (LL201).
    "catalog": lambda root: replace(
        root, f"{STREAMS}/shopify/_catalog.json", '"append_dedup"', '"append"'),
    # A column that does not exist (LL401).
    "model": lambda root: replace(
        root, f"{CORE}/shopify/int_shopify__orders.sql", "lower(email) as email",
        "lower(emial) as email"),
    # A table the models read is no longer declared (LL3xx).
    "sources yml": lambda root: replace(
        root, f"{CORE}/shopify/_shopify__sources.yml",
        "      - name: fulfillments\n        description: Fulfillments and their tracking "
        "information.\n", ""),
    # A source's model folder left out of model-paths (LL304).
    "dbt_project.yml": lambda root: replace(
        root, "orchestration/dbt_project.yml", "  - assets/core/gorgias\n", ""),
    # A connection reads a catalog that does not exist (LL307).
    "terraform": lambda root: replace(
        root, TERRAFORM, "shopify/_catalog.json", "shopify/_catalog_v2.json"),
    # The generator formats differently: every committed catalog is stale (LL205).
    "generator": lambda root: replace(root, GENERATOR, "indent=2", "indent=4"),
    # The config: a size limit several inputs are over (LL008).
    "config": lambda root: (root / "lotus-check.toml").write_text(
        "max-file-size = 3000\n", encoding="utf-8"),
}


def cached_run(root: Path) -> RunResult:
    return run(load_config(root), use_cache=True)


def fresh_run(root: Path) -> RunResult:
    return run(load_config(root), use_cache=False)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(where the reference tree's clean result was stored, a copy of it with its cache).

    The stored result is keyed on the configuration, which names the root: each case puts the
    copy back at the same place rather than storing the same clean result again."""
    base = tmp_path_factory.mktemp("stored")
    root = copy_reference(base / "lake")
    assert codes(cached_run(root)) == []
    shutil.copytree(root, base / "pristine", symlinks=True)
    return root, base / "pristine"


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_an_edit_is_never_replayed_stale(
    stored: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    root, pristine = stored
    shutil.rmtree(root)
    shutil.copytree(pristine, root, symlinks=True)
    ran: list[str] = []
    real = engine._run_family

    def recording(module, ctx):  # type: ignore[no-untyped-def]
        ran.append(module.__name__)
        return real(module, ctx)

    monkeypatch.setattr(engine, "_run_family", recording)
    before = cached_run(root)
    assert codes(before) == [] and ran == []  # replayed from the store the copy brought along
    EDITS[kind](root)
    after = cached_run(root)
    assert ran  # the edit was seen
    expected = fresh_run(root)
    assert codes(after) == codes(expected) != codes(before)
    assert after.findings == expected.findings  # messages and hints too
    assert cached_run(root).findings == expected.findings  # what was stored after the edit
