from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from lotus_checks.cli import main
from lotus_checks.config import load_config
from lotus_checks.engine import RunResult
from lotus_checks.engine import run
from tests.builders import FileContent
from tests.builders import copy_reference
from tests.builders import git_init
from tests.builders import write_tree

# Real git repos in tmp_path need an identity; never the developer's own config.
os.environ.update(
    {
        "GIT_AUTHOR_NAME": "Lotus Test",
        "GIT_AUTHOR_EMAIL": "test@lotus.invalid",
        "GIT_COMMITTER_NAME": "Lotus Test",
        "GIT_COMMITTER_EMAIL": "test@lotus.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """make_repo({path: content}, git=False) -> root of a fresh tree in tmp_path."""
    counter = iter(range(1000))

    def _make(files: dict[str, FileContent | None], git: bool = False) -> Path:
        root = tmp_path / f"repo{next(counter)}"
        root.mkdir()
        write_tree(root, files)
        if git:
            git_init(root)
        return root

    return _make


@pytest.fixture
def reference_repo(tmp_path: Path) -> Path:
    """A git repo in tmp_path holding a copy of the bundled reference tree, committed."""
    root = tmp_path / "lake"
    root.mkdir()
    copy_reference(root)
    return git_init(root)


def check_tree(root: Path, targets: list[str] | None = None, **kwargs: object) -> RunResult:
    """Run every check on `root` through the same engine the CLI uses (cache off)."""
    config = load_config(root)
    kwargs.setdefault("use_cache", False)
    return run(config, frozenset(targets) if targets is not None else None, **kwargs)  # type: ignore[arg-type]


def codes(result: RunResult) -> list[tuple[str, str, int | None, int | None]]:
    """(code, path, line, column) of every finding: tests assert structure, not wording."""
    return [(f.code, f.path, f.line, f.column) for f in result.findings]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """cli(*argv) -> (exit code, stdout, stderr) of `lotus-check`, in process."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run
