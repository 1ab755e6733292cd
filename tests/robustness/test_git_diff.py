"""`--diff` and git: git never writes `.git` (optional locks off, so stale stat data is not
refreshed into `.git/index`), every git call has a time limit, and each way `--diff` can be
wrong has its own one line (exit 2): no git installed, an empty revision, an option where a
revision belongs. A range names both ends (`A..B`, `A...B`); an empty range changed nothing, so
there is nothing to check, and the run says so.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from lotus_checks.adoption import gitutil
from tests.builders import git
from tests.builders import git_init
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import snapshot

BROKEN_MODEL = "{{ config(tags=['core', 'shopify__orders']) }}\nselect nope from {{ source('shopify', 'orders') }}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_init(build_lake(tmp_path / "lake"))


def one_line_exit_2(outcome_err: str, code: int) -> str:
    assert code == 2
    lines = outcome_err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lotus-check: error: "), outcome_err
    return lines[0]


def test_diff_leaves_git_byte_identical_with_stale_stat_data(repo: Path) -> None:
    """Touching every file (same bytes, new mtimes) makes the index's stat data stale; `git diff`
    would refresh it and rewrite .git/index unless optional locks are off."""
    later = time.time() + 5
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (later, later))
    (repo / ORDERS_MODEL).write_text(BROKEN_MODEL)  # one real change too
    before = snapshot(repo / ".git", skip_cache=False)
    outcome = run_cli("--root", str(repo), "--no-cache", "--output-format", "json", "--diff", "HEAD")
    assert_clean_end(outcome)
    assert [f["code"] for f in json.loads(outcome.out)["findings"]] == ["LL401"]
    assert snapshot(repo / ".git", skip_cache=False) == before


def test_git_runs_with_optional_locks_off_and_a_time_limit(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    calls: list[dict] = []
    real_run = subprocess.run

    def recording(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real_run(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", recording)
    gitutil.changed_files(repo, "HEAD")
    assert calls and all(c["env"]["GIT_OPTIONAL_LOCKS"] == "0" for c in calls)
    assert all(c["timeout"] == gitutil.GIT_TIMEOUT for c in calls)


def test_git_past_its_time_limit_is_one_line(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\nsleep 30\n")
    (fake / "git").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gitutil, "GIT_TIMEOUT", 0.5)
    started = time.monotonic()
    outcome = run_cli("--root", str(repo), "--diff", "HEAD")
    assert time.monotonic() - started < 10
    line = one_line_exit_2(outcome.err, outcome.code)
    assert "did not finish within" in line


def test_no_git_installed_is_its_own_message(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    outcome = run_cli("--root", str(repo), "--diff", "HEAD")
    line = one_line_exit_2(outcome.err, outcome.code)
    assert "no `git` command" in line and "not in" not in line


def test_not_a_repository_is_still_its_own_message(tmp_path: Path) -> None:
    """The neighbour of the missing git: git is there, the folder is not a repository."""
    lake = build_lake(tmp_path / "lake")
    outcome = run_cli("--root", str(lake), "--diff", "HEAD")
    assert "is not in one" in one_line_exit_2(outcome.err, outcome.code)


@pytest.mark.parametrize("rev", ["", "   "])
def test_empty_revision_is_one_line_not_a_whole_repo_run(repo: Path, rev: str) -> None:
    (repo / ORDERS_MODEL).write_text(BROKEN_MODEL)
    outcome = run_cli("--root", str(repo), "--diff", rev)
    assert outcome.out == ""
    assert "needs a revision" in one_line_exit_2(outcome.err, outcome.code)


@pytest.mark.parametrize("rev", ["--output=/tmp/lotus-x", "-p"])
def test_option_in_place_of_a_revision_is_refused(repo: Path, rev: str) -> None:
    outcome = run_cli("--root", str(repo), f"--diff={rev}")
    assert "is not a revision" in one_line_exit_2(outcome.err, outcome.code)


def test_unknown_revision_keeps_its_message(repo: Path) -> None:
    outcome = run_cli("--root", str(repo), "--diff", "nosuchbranch")
    assert "unknown revision 'nosuchbranch'" in one_line_exit_2(outcome.err, outcome.code)


@pytest.mark.parametrize("rev", ["HEAD..HEAD", "HEAD...HEAD", "main..", "..main"])
def test_empty_range_changed_nothing_so_nothing_is_checked(repo: Path, rev: str) -> None:
    (repo / ORDERS_MODEL).write_text(BROKEN_MODEL)  # uncommitted: a range leaves it out
    outcome = run_cli("--root", str(repo), "--no-cache", "--output-format", "json", "--diff", rev)
    assert_clean_end(outcome)
    assert outcome.code == 0
    assert json.loads(outcome.out) == {"findings": [], "files_checked": 0}
    assert outcome.err.strip() == f"lotus-check: --changed-since {rev}: no file changed, nothing to check"


def test_range_reports_what_changed_between_its_ends(repo: Path) -> None:
    """The neighbour: a range over a commit that breaks a model reports it; so does `A...B`."""
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / ORDERS_MODEL).write_text(BROKEN_MODEL)
    git(repo, "commit", "-q", "-am", "break")
    for rev in ("main..feature", "main...HEAD", "main.."):
        outcome = run_cli("--root", str(repo), "--no-cache", "--output-format", "json", "--diff", rev)
        assert_clean_end(outcome)
        found = [(f["code"], f["path"]) for f in json.loads(outcome.out)["findings"]]
        assert found == [("LL401", ORDERS_MODEL)], rev
    outcome = run_cli("--root", str(repo), "--diff", "main..nosuch")
    assert "unknown revision 'nosuch'" in one_line_exit_2(outcome.err, outcome.code)


def test_git_is_found_on_path_as_before(repo: Path) -> None:
    assert shutil.which("git") is not None
    assert gitutil.changed_files(repo, "HEAD") == frozenset()
