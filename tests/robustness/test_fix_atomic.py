"""`--fix` is atomic: every file it writes is, at any moment and after any failure, either its old
bytes or its new bytes, never partial.

`fsutil.atomic_write` writes a temporary file beside the target (`.<name>.<random>.tmp`), fsyncs
it and renames it over the target. Faults are injected between the write and the rename:
- in process, `os.replace` raises (a full disk, a permission error, Ctrl-C): the target keeps
  its old bytes and the temporary file is removed;
- in a child process, SIGKILL at the rename (nothing of ours runs afterwards): the target keeps
  its old bytes, and the temporary file stays behind. Such leftovers are ignored by every check
  (the `.tmp` suffix matches no input, the leading dot hides them from folder scans) and a later
  --fix works normally; they are safe to delete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lotus_checks.core import fsutil
from tests.robustness.helpers import CATALOG
from tests.robustness.helpers import CORE
from tests.robustness.helpers import ORDERS_CONFIG
from tests.robustness.helpers import SOURCES_YML
from tests.robustness.helpers import STREAMS
from tests.robustness.helpers import TERRAFORM
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import json_findings
from tests.robustness.helpers import run_cli

SECOND_SOURCE_CATALOG = "orchestration/assets/streams/shopify2/_catalog.json"


def stale_lake(dest: Path) -> Path:
    """The small lake with a stale catalog: a field added to the stream config by hand."""
    root = build_lake(dest)
    config = json.loads((root / ORDERS_CONFIG).read_text())
    first = next(iter(config["fields"]))
    config["fields"]["added_by_hand"] = dict(config["fields"][first])
    (root / ORDERS_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return root


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return stale_lake(tmp_path / "lake")


def new_catalog(lake: Path, tmp_path: Path) -> bytes:
    """What --fix writes: the catalog a clean --fix run in a copy produces."""
    copy = build_lake(tmp_path / "expected")
    (copy / ORDERS_CONFIG).write_bytes((lake / ORDERS_CONFIG).read_bytes())
    assert run_cli("--root", str(copy), "--no-cache", "--fix").code == 1
    return (copy / CATALOG).read_bytes()


def temp_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tmp"))




# ---- faults in process ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_fault_between_write_and_rename_keeps_the_old_bytes(
    lake: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException
) -> None:
    old = (lake / CATALOG).read_bytes()

    def failing_replace(src: str, dst: object) -> None:
        assert Path(src).read_bytes() != old  # the new bytes are fully written at this point
        raise fault

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    if isinstance(fault, KeyboardInterrupt):  # Ctrl-C: one line, exit 130
        outcome = run_cli("--root", str(lake), "--no-cache", "--fix")
        assert (outcome.code, outcome.err) == (
            130, "lotus-check: interrupted; nothing was half-written\n")
    else:
        outcome = run_cli("--root", str(lake), "--no-cache", "--fix")
        assert outcome.code == 2 and "No space left on device" in outcome.err
        assert_clean_end(outcome, allow_usage_error=True)
    assert (lake / CATALOG).read_bytes() == old
    assert temp_files(lake) == []


def test_fault_while_writing_keeps_the_old_bytes(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = (lake / CATALOG).read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsutil.os, "fsync", failing_fsync)
    outcome = run_cli("--root", str(lake), "--no-cache", "--fix")
    assert outcome.code == 2 and "Input/output error" in outcome.err
    assert (lake / CATALOG).read_bytes() == old
    assert temp_files(lake) == []


def test_fix_without_faults_writes_the_new_bytes(lake: Path, tmp_path: Path) -> None:
    """The correct neighbour: the same fix, uninterrupted, lands the generator's bytes."""
    expected = new_catalog(lake, tmp_path)
    assert expected != (lake / CATALOG).read_bytes()
    outcome = run_cli("--root", str(lake), "--no-cache", "--fix")
    assert outcome.code == 1 and f"Fixed {CATALOG}" in outcome.out
    assert (lake / CATALOG).read_bytes() == expected
    assert temp_files(lake) == []


# ---- SIGKILL at the rename, in a child process ------------------------------------------------------

KILLED_FIX = textwrap.dedent(
    """
    import os, signal, sys
    from lotus_checks.cli import main
    from lotus_checks.core import fsutil

    real_replace = os.replace
    kill_at = int(sys.argv[2])
    calls = []

    def replace(src, dst):
        if not str(dst).endswith("_catalog.json"):
            return real_replace(src, dst)
        calls.append(dst)
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # nothing of ours runs after this
        return real_replace(src, dst)

    fsutil.os.replace = replace
    sys.exit(main(["--root", sys.argv[1], "--no-cache", "--fix"]))
    """
)


def add_second_source(lake: Path) -> None:
    """A second Airbyte source whose catalog is missing, so --fix writes two catalogs."""
    for rel in list((lake / STREAMS).iterdir()):
        if rel.name != "_catalog.json":
            target = lake / "orchestration/assets/streams/shopify2" / rel.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rel.read_bytes())


@pytest.fixture(scope="module")
def fixed_two_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], list[dict]]:
    """What an uninterrupted --fix of the stale lake with a second source writes (catalog path
    -> bytes), and the findings after it."""
    root = stale_lake(tmp_path_factory.mktemp("fixed") / "lake")
    add_second_source(root)
    assert run_cli("--root", str(root), "--no-cache", "--fix").code == 1
    return {rel: (root / rel).read_bytes() for rel in (CATALOG, SECOND_SOURCE_CATALOG)}, \
        json_findings(root)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_sigkill_during_fix_leaves_each_file_old_or_new(
    lake: Path, fixed_two_sources: tuple[dict[str, bytes], list[dict]], kill_at: int
) -> None:
    add_second_source(lake)
    new, findings_after_fix = fixed_two_sources
    old = {CATALOG: (lake / CATALOG).read_bytes(), SECOND_SOURCE_CATALOG: None}

    done = subprocess.run([sys.executable, "-c", KILLED_FIX, str(lake), str(kill_at)],
                          capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr

    states = {}
    for rel in old:
        path = lake / rel
        current = path.read_bytes() if path.exists() else None
        assert current in (old[rel], new[rel]), f"{rel} is partial"
        states[rel] = "new" if current == new[rel] else "old"
    # the first rename happened only when the kill came at the second one
    assert sorted(states.values()) == (["new", "old"] if kill_at == 2 else ["old", "old"])
    leftovers = temp_files(lake)
    assert len(leftovers) == 1 and Path(leftovers[0]).name.startswith(".")

    # The leftover is ignored by every check, and a later --fix completes the job.
    assert run_cli("--root", str(lake), "--no-cache", "--fix").code == 1
    for rel in old:
        assert (lake / rel).read_bytes() == new[rel]
    assert json_findings(lake) == findings_after_fix


# ---- leftovers are ignored everywhere -----------------------------------------------------------------


def test_leftover_temp_files_are_ignored_by_every_check(lake: Path) -> None:
    before = json_findings(lake)
    garbage = b'{"stream": \x00\xff broken'
    for rel in (CATALOG, ORDERS_CONFIG, SOURCES_YML, f"{CORE}/int_shopify__orders.sql",
                f"{TERRAFORM}/connections.tf", "orchestration/dbt_project.yml"):
        path = lake / rel
        (path.parent / f".{path.name}.k3j4h5.tmp").write_bytes(garbage)
    assert json_findings(lake) == before


# ---- atomic_write itself ----------------------------------------------------------------------------


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "catalog.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    fsutil.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_atomic_write_gives_a_new_file_the_umask_mode(tmp_path: Path) -> None:
    """mkstemp creates 0600: a catalog --fix created was unreadable to the rest of the team."""
    old_mask = os.umask(0o022)
    try:
        fsutil.atomic_write(tmp_path / "new.json", b"{}")
    finally:
        os.umask(old_mask)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o644
    assert temp_files(tmp_path) == []
