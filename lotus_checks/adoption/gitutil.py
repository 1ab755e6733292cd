"""The few git questions `--changed-since` (and pre-commit's untracked-file warning) asks, through
the `git` command (no library: git is what the user's CI and pre-commit already run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitError(Exception):
    """git cannot answer: not a repository, unknown revision, no git. One line for stderr."""


class _GitFailed(GitError):
    """git ran and exited non-zero (its last line of stderr is the message)."""


# Every git call ends within this (a hung network file system or a huge repo must not hang a
# commit hook); `--diff` then stops with one line.
GIT_TIMEOUT = 60.0


def _git(root: Path, *args: str) -> str:
    # Optional locks off: `git diff` and `git status` otherwise refresh the index's stat data
    # and write .git/index, and a run without --fix writes nothing (see docs/reliability.md).
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError:
        raise GitError("--changed-since needs git, and there is no `git` command on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"--changed-since: `git {args[0]}` did not finish within "
                       f"{GIT_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        message = done.stderr.strip()
        raise _GitFailed(message.splitlines()[-1] if message else "git failed")
    return done.stdout


def toplevel(root: Path) -> Path:
    try:
        out = _git(root, "rev-parse", "--show-toplevel")
    except _GitFailed:
        raise GitError(f"--changed-since needs a git repository, and {root} is not in one") from None
    return Path(out.strip()).resolve()


def _verify(root: Path, rev: str) -> None:
    try:
        _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except _GitFailed:
        raise GitError(f"--changed-since: unknown revision {rev!r} (in CI, fetch it first: "
                       f"checkout with fetch-depth: 0)") from None


def merge_base(root: Path, rev: str, other: str = "HEAD") -> str:
    """The commit `rev` and `other` share: what a pull request's changes are measured against."""
    _verify(root, rev)
    try:
        return _git(root, "merge-base", "--end-of-options", rev, other).strip()
    except _GitFailed:
        raise GitError(f"--changed-since: {rev!r} and {other} have no common ancestor") from None


def _checked_revision(rev: str) -> str:
    if not rev.strip():
        raise GitError("--changed-since needs a revision to compare with (for example origin/main), "
                       "got an empty one")
    if rev.startswith("-"):
        raise GitError(f"--changed-since: {rev!r} is not a revision")
    return rev


def changed_files(root: Path, rev: str) -> frozenset[str]:
    """Files that differ between the merge base of `rev` and HEAD and the working tree.

    That is the commits since the merge base plus staged, unstaged and untracked (not ignored)
    changes, so a local `--diff origin/main` sees the work about to be pushed; in CI the working
    tree is clean and this is exactly the pull request. Deleted files are included (a deleted
    catalog or model is reported at its old path). Paths are POSIX and relative to `root`;
    files outside `root` are dropped.

    A range names both ends, as in `git diff`: `A..B` is what changed from A to B, `A...B` what
    changed on B since it left A (an empty side is HEAD); the working tree is not included. An
    empty range (`HEAD..HEAD`) changed nothing, so there is nothing to check."""
    rev = _checked_revision(rev)
    top = toplevel(root)
    if ".." in rev:
        start, dots, end = rev.partition("...") if "..." in rev else rev.partition("..")
        start, end = start or "HEAD", end or "HEAD"
        for side in (start, end):
            _checked_revision(side)
            _verify(root, side)
        base = merge_base(root, start, end) if dots == "..." else start
        names = _git(top, "diff", "--name-only", "--no-renames", "-z", "--end-of-options",
                     base, end, "--")
    else:
        base = merge_base(root, rev)
        # Commits since the merge base (two trees: git reads no stat data), then what `git
        # status` sees in the working tree. Not `git diff BASE`: where stat data is stale it
        # rewrites .git/index whatever the optional-locks setting says; `status` honours it.
        names = _git(top, "diff", "--name-only", "--no-renames", "-z", "--end-of-options",
                     base, "HEAD", "--")
        status = _git(top, "status", "--porcelain=v1", "-z", "--no-renames",
                      "--untracked-files=all")
        names += "\0".join(entry[3:] for entry in status.split("\0") if len(entry) > 3)
    out = set()
    for name in names.split("\0"):
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
