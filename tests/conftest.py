from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any
from typing import Callable

import pytest

from lotus_checks.cli import main
from lotus_checks.core.config import load_config
from lotus_checks.core.config import with_overrides
from lotus_checks.core.finding import Finding
from lotus_checks.engine import RunResult
from lotus_checks.engine import context_for
from lotus_checks.engine import run
from lotus_checks.incremental.cache import Cache
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


def build_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """A folder `name` that `build(folder)` fills once per test session, shared by every
    pytest-xdist worker of that session (a file lock orders them; a worker that failed halfway
    leaves no "done" mark, so the next one starts over). Read-only for the tests: a test that
    changes what is in it copies it first."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder; each worker's own is below it
    folder = base / name
    done = base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


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


# The session's fact cache (see `shared_cache`), set once per session by `_shared_cache_folder`.
_SHARED_CACHE: Path | None = None


@pytest.fixture(scope="session", autouse=True)
def _shared_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    global _SHARED_CACHE
    _SHARED_CACHE = build_once(tmp_path_factory, "fact-cache", lambda _folder: None)


def check_tree(
    root: Path,
    targets: list[str] | None = None,
    *,
    select: list[str] | None = None,
    shared_cache: bool = False,
    **kwargs: object,
) -> RunResult:
    """Run the checks on `root` through the same engine the CLI uses: every family, or those
    `select` enables (codes or prefixes, as `--select`).

    The cache is off unless `shared_cache` (or `use_cache=True`, the tree's own cache folder).
    With `shared_cache`, the run uses one cache folder for the whole session, outside the tree:
    the content-keyed facts (a model's facts keyed on its text, the generator's output on the
    bytes of its inputs) are computed once for every test that has the same inputs, and a
    stored whole result is replayed only for a tree and config identical byte for byte. Tests
    that patch lotus-check's internals, or test budgets and time limits, keep it off."""
    config = load_config(root)
    if select is not None:
        config = with_overrides(config, select=select)
    if shared_cache:
        assert _SHARED_CACHE is not None and "use_cache" not in kwargs
        config = dataclasses.replace(config, cache_dir=str(_SHARED_CACHE))
        kwargs["use_cache"] = True
    kwargs.setdefault("use_cache", False)
    return run(config, frozenset(targets) if targets is not None else None, **kwargs)  # type: ignore[arg-type]


def check_family(
    module: ModuleType,
    root: Path,
    targets: list[str] | None = None,
    *,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    use_cache: bool = False,
    shared_cache: bool = False,
    **config_overrides: Any,
) -> list[Finding]:
    """What one family's `check` returns on `root`, called directly: the config the tree's
    lotus-check.toml gives, with `select`/`ignore` as on the command line and `config_overrides`
    replacing Config fields. No cache, unless `use_cache` (the tree's own folder, as
    `run(use_cache=True)`: a suite that re-checks one tree after each small edit) or
    `shared_cache` (the session's, as in `check_tree`: the generator's output and a model's facts
    computed once for every test with the same inputs).

    Not the engine: no LL0xx load findings, no noqa, no scoping to `targets` (a check may only
    skip work outside them), no dedupe, no sorting. Tests of those, and the thin end-to-end
    layer, use `check_tree` or `cli`."""
    config = with_overrides(load_config(root), select=select, ignore=ignore)
    if config_overrides:
        config = dataclasses.replace(config, **config_overrides)
    assert not (use_cache and shared_cache)
    cache = None
    if use_cache:
        cache = Cache(config.root / config.cache_dir)
    elif shared_cache:
        assert _SHARED_CACHE is not None
        cache = Cache(_SHARED_CACHE)
    ctx = context_for(config, frozenset(targets) if targets is not None else None, cache=cache)
    return list(module.check(ctx))


def codes_of(findings: list[Finding]) -> list[tuple[str, str, int | None, int | None]]:
    """(code, path, line, column) of `findings` in the engine's order (Finding.sort_key)."""
    return [(f.code, f.path, f.line, f.column) for f in sorted(findings, key=Finding.sort_key)]


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
