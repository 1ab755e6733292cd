"""No writes without --fix: a run changes nothing in the tree (bytes, mtimes, modes, the set of
files and folders, .git included) outside the cache folder.

Every run of the fuzz corpus (test_fuzz_cli.py) is snapshotted the same way; here the reference
tree goes through every way of running lotus-check except --fix, including with fixable findings
present, and the cache is shown to be ignored when corrupt.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.builders import git
from tests.robustness.helpers import CACHE_DIR
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import snapshot

REF_CATALOG = "orchestration/assets/streams/shopify/_catalog.json"
REF_CONFIG = "orchestration/assets/streams/shopify/orders.json"
REF_MODEL = "orchestration/assets/core/shopify/int_shopify__orders.sql"


def break_reference(root: Path) -> None:
    """Fixable and unfixable findings: a stale catalog, a missing one, an unknown column."""
    config = json.loads((root / REF_CONFIG).read_text())
    config["selected"] = not config.get("selected", True)
    (root / REF_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    (root / "orchestration/assets/streams/stripe/_catalog.json").unlink()
    model = root / REF_MODEL
    model.write_text(model.read_text().replace("    currency,", "    currency_code,"))


ARGUMENT_SETS: list[Callable[[Path], list[str]]] = [
    lambda root: [],
    lambda root: ["--no-cache"],
    lambda root: ["--output-format", "json"],
    lambda root: ["--output-format", "github"],
    lambda root: ["--output-format", "sarif"],
    lambda root: ["--statistics", "--exit-zero"],
    lambda root: ["--select", "LL2,LL4"],
    lambda root: [str(root / REF_CONFIG), str(root / REF_MODEL)],  # as pre-commit passes files
    lambda root: ["--diff", "HEAD"],
    lambda root: ["--baseline", str(root.parent / "missing-baseline.json")],
    lambda root: ["rules"],
    lambda root: ["explain", "LL201"],
]


def test_no_run_without_fix_writes_to_the_reference_tree(reference_repo: Path) -> None:
    root = reference_repo
    break_reference(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "broken on purpose")
    before = snapshot(root)  # .git included: not even the index is refreshed
    codes = []
    for arguments in ARGUMENT_SETS:
        args = arguments(root)
        outcome = run_cli(*args) if args and args[0] in ("rules", "explain") else run_cli(
            "--root", str(root), *args)
        assert_clean_end(outcome, allow_usage_error="--baseline" in args)
        codes.append(outcome.code)
        assert_unchanged(before, snapshot(root))
    assert codes[0] == 1  # the broken tree has findings, and the runs above did not fix them
    cache = root / CACHE_DIR
    assert cache.is_dir() and not list(cache.rglob("*.tmp"))


def test_fix_writes_only_what_it_reports(reference_repo: Path) -> None:
    """The correct neighbour: --fix does write, exactly the catalogs it names."""
    root = reference_repo
    break_reference(root)
    before = snapshot(root)
    outcome = run_cli("--root", str(root), "--no-cache", "--fix")
    fixed = sorted(line.split(" ", 1)[1] for line in outcome.out.splitlines()
                   if line.startswith("Fixed "))
    assert fixed == sorted([REF_CATALOG, "orchestration/assets/streams/stripe/_catalog.json"])
    after = snapshot(root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    # a rename into a folder updates the folder's mtime; nothing else changes
    assert [k for k in changed if after[k].kind != "dir"] == fixed
    assert {k for k in changed if after[k].kind == "dir"} == {str(Path(p).parent) for p in fixed}


# ---- a corrupt cache is ignored ---------------------------------------------------------------------


def corrupt(entry: Path, how: str) -> None:
    data = entry.read_bytes()
    if how == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        entry.write_bytes(b"\x00\xff\xfe garbage \x89PNG")
    elif how == "empty":
        entry.write_bytes(b"")
    elif how == "folder":
        entry.unlink()
        entry.mkdir()
        (entry / "x.json").write_text("{}")
    elif how == "fifo":
        import os

        entry.unlink()
        os.mkfifo(entry)
    elif how in ("null", "list", "string", "object"):
        entry.write_text({"null": "null", "list": "[]", "string": '"x"', "object": "{}"}[how])
    elif how == "dangling":
        entry.unlink()
        entry.symlink_to(entry.parent / "nowhere.json")


CORRUPTIONS = ["truncated", "garbage", "empty", "folder", "fifo", "null", "list", "string",
               "object", "dangling"]


@dataclass(frozen=True)
class Warm:
    root: Path  # where the cache was filled: entries are keyed on the configuration, which names it
    pristine: Path  # a copy of the lake and its cache, to put back at `root` for each case
    expected: str  # the findings without the cache


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Warm:
    """The small lake with a finding, its cache filled by a run that gave the right findings."""
    base = tmp_path_factory.mktemp("warm")
    root = build_lake(base / "lake")
    model = root / "orchestration/assets/core/shopify/int_shopify__orders.sql"
    model.write_text(model.read_text().replace("    currency,", "    currency_code,"))
    expected = run_cli("--root", str(root), "--no-cache", "--output-format", "json")
    assert expected.code == 1
    assert run_cli("--root", str(root), "--output-format", "json").out == expected.out  # warm
    shutil.copytree(root, base / "pristine", symlinks=True)
    return Warm(root, base / "pristine", expected.out)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_cache_entries_are_ignored(warm: Warm, how: str) -> None:
    root = warm.root
    shutil.rmtree(root)
    shutil.copytree(warm.pristine, root, symlinks=True)
    entries = [p for p in (root / CACHE_DIR).rglob("*.json") if p.name != ".gitignore"]
    assert entries
    for entry in entries:
        corrupt(entry, how)
    before = snapshot(root)
    for _ in range(2):  # the first run rewrites the entries it could not use; both are right
        outcome = run_cli("--root", str(root), "--output-format", "json")
        assert_clean_end(outcome)
        assert outcome.out == warm.expected
    assert_unchanged(before, snapshot(root))
    assert not list((root / CACHE_DIR).rglob("*.tmp"))


def test_cache_folder_that_is_a_file_is_ignored(tmp_path: Path) -> None:
    root = build_lake(tmp_path / "lake")
    expected = run_cli("--root", str(root), "--no-cache", "--output-format", "json")
    (root / CACHE_DIR).write_text("not a folder")
    outcome = run_cli("--root", str(root), "--output-format", "json")
    assert_clean_end(outcome)
    assert outcome.out == expected.out
    assert (root / CACHE_DIR).read_text() == "not a folder"


def test_read_only_cache_folder_still_gives_findings(tmp_path: Path) -> None:
    """A cache that cannot be written (here: its namespace folders are files) is only slower."""
    root = build_lake(tmp_path / "lake")
    expected = run_cli("--root", str(root), "--no-cache", "--output-format", "json")
    cache = root / CACHE_DIR
    cache.mkdir()
    # Every namespace the cache has: the names come from their owners, so none goes stale.
    from lotus_checks.incremental.replay import NAMESPACE as RESULT
    from lotus_checks.lake.generator import CACHE_NAMESPACE as GENERATOR
    from lotus_checks.lake.terraform import CACHE_NAMESPACE as HCL
    from lotus_checks.repo.model import COVERAGE_NAMESPACE
    from lotus_checks.repo.model import FACTS_NAMESPACE

    for namespace in (FACTS_NAMESPACE, COVERAGE_NAMESPACE, GENERATOR, HCL, RESULT):
        (cache / namespace).write_text("blocked")
    outcome = run_cli("--root", str(root), "--output-format", "json")
    assert_clean_end(outcome)
    assert outcome.out == expected.out
    shutil.rmtree(cache)
