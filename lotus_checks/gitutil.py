"""The few git questions `--changed-since` (and pre-commit's untracked-file warning) asks, through
the `git` command (no library: git is what the user's CI and pre-commit already run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitError(Exception):
    """git cannot answer: not a repository, unknown revision, no git. One line for stderr."""


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        message = done.stderr.strip()
        raise GitError(message.splitlines()[-1] if message else "git failed")
    return done.stdout


def toplevel(root: Path) -> Path:
    try:
        out = _git(root, "rev-parse", "--show-toplevel")
    except GitError:
        raise GitError(f"--changed-since needs a git repository, and {root} is not in "
                       "one") from None
    return Path(out.strip()).resolve()


def merge_base(root: Path, rev: str) -> str:
    """The commit `rev` and HEAD share: what a pull request's changes are measured against."""
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError:
        raise GitError(f"--changed-since: unknown revision {rev!r} (in CI, fetch it first: "
                       f"checkout with fetch-depth: 0)") from None
    try:
        return _git(root, "merge-base", rev, "HEAD").strip()
    except GitError:
        raise GitError(f"--changed-since: {rev!r} and HEAD have no common ancestor") from None


def changed_files(root: Path, rev: str) -> frozenset[str]:
    """Files that differ between the merge base of `rev` and HEAD and the working tree.

    That is the commits since the merge base plus staged, unstaged and untracked (not ignored)
    changes, so a local `--diff origin/main` sees the work about to be pushed; in CI the working
    tree is clean and this is exactly the pull request. Deleted files are included (a deleted
    catalog or model is reported at its old path). Paths are POSIX and relative to `root`;
    files outside `root` are dropped."""
    top = toplevel(root)
    base = merge_base(root, rev)
    diffed = _git(top, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = _git(top, "ls-files", "--others", "--exclude-standard", "-z")
    out = set()
    for name in (diffed + untracked).split("\0"):
        if not name:
            continue
        rel = _relative(top / name, root)
        if rel is not None:
            out.add(rel)
    return frozenset(out)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return Path(os.path.normpath(path)).relative_to(root).as_posix()
    except ValueError:
        return None


def untracked_files(root: Path, paths: list[str]) -> list[str]:
    """Files below `paths` (relative to `root`) that git neither tracks nor ignores, relative to
    `root`: on disk, and so checked, but not part of the commit being made."""
    specs = [f":(literal){path}" for path in paths]
    listed = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *specs)
    return sorted(name for name in listed.split("\0") if name)
