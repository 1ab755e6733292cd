"""The hooks under the real `pre-commit`, in git repos holding a copy of the reference tree.
pre-commit builds the hook environment itself (a virtualenv with this package pip-installed from
the package registry), once per test session (one PRE_COMMIT_HOME shared by every xdist worker).

Marked slow (they run external tools); they are part of the normal test command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders import CORE
from tests.builders import REPO_ROOT
from tests.builders import STREAMS
from tests.builders import copy_reference_dag
from tests.builders import git
from tests.builders import git_init
from tests.conftest import build_once

pytestmark = pytest.mark.slow

HOOK_IDS = ("lotus-check", "lotus-naming", "lotus-catalog", "lotus-coverage", "lotus-columns",
            "lotus-config")
HOOK_NAMES = ("lotus-check (all rules)", "lotus-check naming", "lotus-check catalog drift",
              "lotus-check coverage", "lotus-check SQL columns", "lotus-check stream configs")
CUSTOMERS_MODEL = f"{CORE}/shopify/int_shopify__customers.sql"
SHOPIFY_CATALOG = f"{STREAMS}/shopify/_catalog.json"


def _snapshot_this_repo(snapshot: Path) -> None:
    """This repo's working tree (tracked and untracked, not ignored) committed in a fresh repo.

    A config naming the working repo itself would install its last commit (and try-repo, with
    uncommitted edits, a new shadow commit per call); a snapshot tests the code on disk and
    keeps one commit, so the environment is built once."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode("utf-8").split("\0")
    for rel in filter(None, listed):
        source = REPO_ROOT / rel
        if source.is_file():
            (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / rel)
    git_init(snapshot)


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snapshot of this repo that the hooks are installed from; shared, never written."""
    return build_once(tmp_path_factory, "hook-repo", _snapshot_this_repo)


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory, hook_repo: Path) -> Path:
    """A PRE_COMMIT_HOME holding the hook environment for `hook_repo`, built once per session
    (by whichever worker gets here first). pre-commit's later runs only record their configs
    in it, under pre-commit's own lock."""

    def install(home: Path) -> None:
        config = _hooks_config(home / "install-config.yaml", hook_repo, HOOK_IDS)
        code, out = _pre_commit(hook_repo, home, "install-hooks", "--config", str(config))
        assert code == 0, out

    return build_once(tmp_path_factory, "pre-commit-home", install)


def _pre_commit(root: Path, home: Path, *args: str, path_first: str = "") -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PRE_COMMIT", "CI")}
    env["PRE_COMMIT_HOME"] = str(home)
    if path_first:
        env["PATH"] = path_first + os.pathsep + env.get("PATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", *args, "--color", "never"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


def _hooks_config(path: Path, hook_repo: Path, hook_ids: tuple[str, ...]) -> Path:
    """A .pre-commit-config.yaml using `hook_ids` of this repo at the snapshot's commit, as a
    user's repo would."""
    rev = git(hook_repo, "rev-parse", "HEAD").strip()
    config = {"repos": [{"repo": str(hook_repo), "rev": rev,
                         "hooks": [{"id": h} for h in hook_ids]}]}
    path.write_text(json.dumps(config), "utf-8")  # JSON is YAML
    return path


@pytest.fixture
def run_hooks(hook_repo: Path, pre_commit_home: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """run_hooks(root, *hook_ids, all_files=False) -> (exit code, output) of `pre-commit run`
    with a config (tmp_path/pre-commit-config.yaml) that uses these hooks of this repo.

    (`pre-commit try-repo` does the same but builds the hook environment in a fresh temporary
    store on every call; a shared PRE_COMMIT_HOME builds it once per session.)"""

    def _run(root: Path, *hook_ids: str, all_files: bool = False) -> tuple[int, str]:
        config = _hooks_config(tmp_path / "pre-commit-config.yaml", hook_repo,
                               hook_ids or HOOK_IDS)
        args = ["run", "--config", str(config)] + (["--all-files"] if all_files else [])
        return _pre_commit(root, pre_commit_home, *args)

    return _run


def _stage(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {rel}: the reference tree changed, update this test"
    path.write_text(text.replace(old, new, 1), "utf-8")
    git(root, "add", rel)


def _status(output: str, name: str) -> str:
    """'Passed', 'Failed' or 'Skipped' for the hook whose name starts the line."""
    for line in output.splitlines():
        match = re.match(re.escape(name) + r"\.+.*(Passed|Failed|Skipped)$", line)
        if match:
            return match.group(1)
    raise AssertionError(f"hook {name!r} did not run:\n{output}")


def test_every_hook_in_the_manifest_runs_and_only_the_catalog_ones_fail_on_a_catalog_edit(
    reference_repo: Path, run_hooks  # type: ignore[no-untyped-def]
) -> None:
    """Every hook .pre-commit-hooks.yaml publishes, with --all-files (what `pre-commit try-repo
    <repo> --all-files` runs; try-repo would build the environment again in a store of its own).
    A hand edit to a catalog fails the catalog hook and `lotus-check`; nothing else reads
    catalogs' values, so the other hooks pass on the same tree."""
    manifest = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    hook_ids = [hook["id"] for hook in manifest]
    assert set(HOOK_IDS) < set(hook_ids)  # and lotus-dbt, which runs at the manual stage only
    _stage(reference_repo, SHOPIFY_CATALOG,
           '"sync_mode": "incremental"', '"sync_mode": "full_refresh"')
    code, out = run_hooks(reference_repo, *hook_ids, all_files=True)
    assert code == 1, out
    assert f"{SHOPIFY_CATALOG}:" in out and "LL201" in out, out
    assert _status(out, "lotus-check catalog drift") == "Failed", out
    assert _status(out, "lotus-check (all rules)") == "Failed", out
    for name in ("lotus-check naming", "lotus-check SQL columns", "lotus-check stream configs",
                 "lotus-check coverage"):
        assert _status(out, name) == "Passed", out


def test_misspelled_column_fails_the_columns_hook(reference_repo: Path, run_hooks) -> None:  # type: ignore[no-untyped-def]
    _stage(reference_repo, CUSTOMERS_MODEL, "    orders_count,\n", "    order_count,\n")
    code, out = run_hooks(reference_repo, "lotus-columns", all_files=True)
    assert code == 1, out
    assert f"{CUSTOMERS_MODEL}:29:5: LL401" in out, out


def test_a_staged_deletion_alone_fails_the_coverage_hook(reference_repo: Path, run_hooks) -> None:  # type: ignore[no-untyped-def]
    """pre-commit passes no deleted file to `files:` patterns: only always_run catches this."""
    git(reference_repo, "rm", "-q", f"{CORE}/gorgias/int_gorgias__tickets.sql")
    code, out = run_hooks(reference_repo, "lotus-coverage")
    assert code == 1, out
    assert "LL302" in out and "int_gorgias__tickets.sql" in out, out


def test_staged_model_mistake_fails_at_commit_and_in_no_other_git_hook(
    reference_repo: Path, run_hooks, pre_commit_home: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """Without --all-files (as at a commit) the staged mistake fails its hooks; every hook runs
    on every commit, and a model cannot change a catalog, so that one passes.

    always_run without `stages:` ran every hook in every git hook installed (commit-msg twice
    per commit, post-checkout on every checkout), failing those too when there are findings."""
    _stage(reference_repo, CUSTOMERS_MODEL, "    orders_count,\n", "    order_count,\n")
    code, out = run_hooks(reference_repo, "lotus-check", "lotus-columns", "lotus-catalog")
    assert code == 1, out
    assert f"{CUSTOMERS_MODEL}:29:5: LL401" in out, out
    assert _status(out, "lotus-check (all rules)") == "Failed", out
    assert _status(out, "lotus-check SQL columns") == "Failed", out
    assert _status(out, "lotus-check catalog drift") == "Passed", out
    config = tmp_path / "pre-commit-config.yaml"  # written by run_hooks above
    code, out = _pre_commit(reference_repo, pre_commit_home, "run", "--config", str(config),
                            "--hook-stage", "post-commit")
    assert code == 0 and "lotus-check" not in out, out


def test_staged_stream_config_change_reports_the_model_it_breaks(
    reference_repo: Path, run_hooks  # type: ignore[no-untyped-def]
) -> None:
    """Only the stream config is staged; the findings are in the (unchanged) model and the
    stale catalog. This is why the hooks do not pass file names."""
    config = reference_repo / STREAMS / "shopify/customers.json"
    data = json.loads(config.read_text("utf-8"))
    del data["fields"]["total_spent"]
    config.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    git(reference_repo, "add", config.relative_to(reference_repo).as_posix())

    code, out = run_hooks(reference_repo, "lotus-catalog", "lotus-columns")
    assert code == 1, out
    assert _status(out, "lotus-check catalog drift") == "Failed", out
    assert f"{SHOPIFY_CATALOG}:" in out, out
    assert _status(out, "lotus-check SQL columns") == "Failed", out
    assert f"{CUSTOMERS_MODEL}:30:5: LL402" in out, out


def test_unrelated_staged_file_runs_every_hook_and_passes(reference_repo: Path, run_hooks) -> None:  # type: ignore[no-untyped-def]
    (reference_repo / "NOTES.md").write_text("notes\n", "utf-8")
    git(reference_repo, "add", "NOTES.md")
    code, out = run_hooks(reference_repo)
    assert code == 0, out
    for name in HOOK_NAMES:
        assert _status(out, name) == "Passed", out


# ---- another layout, no config at all, no overrides ----------------------------------------


@pytest.fixture
def dag_repo(tmp_path: Path) -> Path:
    """The reference tree in the `dag` layout with no lotus-check config: the layout is detected."""
    root = tmp_path / "dag-lake"
    root.mkdir()
    copy_reference_dag(root)
    assert not (root / "lotus-check.toml").exists() and not (root / "pyproject.toml").exists()
    return git_init(root)


def test_documented_hook_blocks_a_misspelled_column_in_the_dag_layout(
    dag_repo: Path, run_hooks, pre_commit_home: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """The README's config (`- id: lotus-check`, nothing overridden) on a repo laid out as
    orchestration/dag/... with no lotus-check config: the commit with a misspelled column is
    blocked."""
    model = "orchestration/dag/processed/shopify/int_shopify__customers.sql"
    code, out = run_hooks(dag_repo, "lotus-check", all_files=True)
    assert code == 0, out  # the moved tree is clean
    assert _status(out, "lotus-check (all rules)") == "Passed", out

    # Through git itself: the installed hook refuses the commit.
    _stage(dag_repo, model, "    orders_count,\n", "    order_count,\n")
    config = tmp_path / "pre-commit-config.yaml"  # written by run_hooks above
    code, out = _pre_commit(dag_repo, pre_commit_home, "install", "--config", str(config))
    assert code == 0, out
    head = git(dag_repo, "rev-parse", "HEAD")
    env = {k: v for k, v in os.environ.items() if k not in ("PRE_COMMIT", "CI")}
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    done = subprocess.run(["git", "commit", "-q", "-m", "misspelled"], cwd=dag_repo, env=env,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert _status(out, "lotus-check (all rules)") == "Failed", out
    assert f"{model}:29:5: LL401" in out, out
    assert git(dag_repo, "rev-parse", "HEAD") == head


def test_this_repos_own_config_passes(hook_repo: Path, tmp_path: Path) -> None:
    """.pre-commit-config.yaml (repo: local, language: system) on this repo's own tree (a clone
    of the snapshot), with the dev venv active (its bin folder first on PATH)."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(hook_repo), str(clone))
    code, out = _pre_commit(clone, tmp_path / "home", "run", "--all-files",
                            path_first=str(Path(sys.executable).parent))
    assert code == 0, out
    assert _status(out, "lotus-check (reference tree)") == "Passed", out
    assert _status(out, "validate .pre-commit-hooks.yaml") == "Passed", out


# ---- stages and the working tree ----------------------------------------------------------------


def test_untracked_model_is_named_when_the_hook_fails(reference_repo: Path, run_hooks) -> None:  # type: ignore[no-untyped-def]
    """`git rm --cached` leaves the model on disk: pre-commit does not stash untracked files, so
    the checks see it although the commit lacks it. The hook's output names it."""
    git(reference_repo, "rm", "-q", "--cached", CUSTOMERS_MODEL)
    _stage(reference_repo, SHOPIFY_CATALOG, '"sync_mode": "incremental"',
           '"sync_mode": "full_refresh"')
    code, out = run_hooks(reference_repo, "lotus-check")
    assert code == 1, out
    assert ("lotus-check: warning: checked the working tree, where 1 untracked file is not part "
            f"of this commit: {CUSTOMERS_MODEL}") in out
