"""Replaying the whole previous result when nothing changed (lotus_checks/incremental/replay.py).

The one property that matters: a run that replays gives exactly the findings of a run that
computes everything (`--no-cache`). tests/test_stale_replay.py edits every kind of input; here,
what is stored, what is replayed, and the tree digest the key is made of, on the small lake
(tests/robustness/helpers.py: one source, three models, the real generator).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lotus_checks import engine
from lotus_checks.checks import FAMILY_MODULES
from lotus_checks.core.config import Config
from lotus_checks.core.config import load_config
from lotus_checks.core.config import with_overrides
from lotus_checks.core.finding import Finding
from lotus_checks.engine import RunResult
from lotus_checks.engine import run
from lotus_checks.incremental import replay
from lotus_checks.incremental.cache import Cache
from lotus_checks.incremental.replay import NAMESPACE
from lotus_checks.incremental.replay import ResultStore
from lotus_checks.incremental.replay import tree_digest
from lotus_checks.repo.model import Repo
from tests.builders import CORE
from tests.builders import STREAMS
from tests.conftest import codes
from tests.robustness.helpers import build_lake

ORDERS_MODEL = f"{CORE}/shopify/int_shopify__orders.sql"
ORDERS_CONFIG = f"{STREAMS}/shopify/orders.json"
GENERATOR = "orchestration/airbyte/generate-catalog.py"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")


@pytest.fixture
def family_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the families that really ran (were not replayed), in order."""
    ran: list[str] = []
    real = engine._run_family

    def recording(module, ctx):  # type: ignore[no-untyped-def]
        ran.append(module.__name__.rsplit(".", 1)[-1])
        return real(module, ctx)

    monkeypatch.setattr(engine, "_run_family", recording)
    return ran


def cached_run(root: Path, targets: list[str] | None = None, **overrides: list[str]) -> RunResult:
    config = with_overrides(load_config(root), **overrides) if overrides else load_config(root)
    return run(config, frozenset(targets) if targets is not None else None, use_cache=True)


def fresh_run(root: Path, targets: list[str] | None = None) -> RunResult:
    return run(load_config(root), frozenset(targets) if targets is not None else None,
               use_cache=False)


def edit(root: Path, rel: str, old: str, new: str) -> str:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text


def store_entry(root: Path) -> Path:
    [entry] = (root / ".lotus_check_cache" / NAMESPACE).rglob("*.json")
    return entry


# ---- what is replayed ---------------------------------------------------------------------------


def test_a_warm_run_replays_the_whole_result(lake: Path, family_runs: list[str]) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    first = cached_run(lake)
    assert family_runs and ("LL401", ORDERS_MODEL) in [(c, p) for c, p, *_ in codes(first)]
    family_runs.clear()
    second = cached_run(lake)
    assert family_runs == []
    assert second.findings == first.findings
    assert second.files_checked == first.files_checked


def test_a_warm_run_parses_nothing(lake: Path) -> None:
    """No parser is even imported: the replay costs reading and hashing the tree."""
    cached_run(lake)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from lotus_checks.core.config import load_config\n"
        "from lotus_checks.engine import run\n"
        f"result = run(load_config(Path({str(lake)!r})))\n"
        "heavy = ('sqlglot', 'jsonschema', 'yaml', 'hcl2', 'jinja2', 'lark')\n"
        "print(json.dumps([len(result.findings), sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    warm = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(warm.stdout) == [0, []]
    # The neighbour: after an edit the run parses again.
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    cold = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    found, imported = json.loads(cold.stdout)
    assert found == 1 and "sqlglot" in imported


def test_an_edit_runs_everything_again(lake: Path, family_runs: list[str]) -> None:
    cached_run(lake)
    original = edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    family_runs.clear()
    found = cached_run(lake)
    assert len(family_runs) == len(FAMILY_MODULES)
    assert codes(found) == codes(fresh_run(lake)) != []
    (lake / ORDERS_MODEL).write_text(original, encoding="utf-8")  # put back: clean again
    assert codes(cached_run(lake)) == []


def test_a_file_saved_during_the_run_is_not_stored(
        lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An editor saving a model while the hook runs: the findings are of the new text, the tree
    digest of the old one. Stored, they would be replayed once the old text is back."""
    real = engine._precompute_model_facts
    saved: list[str] = []

    def saving(*args, **kwargs):  # type: ignore[no-untyped-def]
        # After the tree digest was taken, before anything reads the model.
        saved.append(edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_precompute_model_facts", saving)
    # The model is read again after the digest, as a file the digest does not hand to the repo
    # model is (one reached through a link): a model it hands over is checked as it hashed it.
    monkeypatch.setattr(Repo, "keep_bytes", lambda *_args: None)
    during = cached_run(lake)
    assert ("LL401", ORDERS_MODEL) in [(c, p) for c, p, *_ in codes(during)]
    monkeypatch.undo()
    (lake / ORDERS_MODEL).write_text(saved[0], encoding="utf-8")  # the old text is back
    assert codes(cached_run(lake)) == codes(fresh_run(lake)) == []


def test_a_noqa_comment_is_judged_on_a_replayed_run(lake: Path) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email,", "lower(email) as email, -- noqa: LL401")
    cached_run(lake)
    warm = cached_run(lake)
    assert [(c, p) for c, p, _l, _c in codes(warm)] == [("LL602", ORDERS_MODEL)]
    edit(lake, ORDERS_MODEL, "lower(email) as email,", "lower(emial) as email,")
    assert codes(cached_run(lake)) == []  # the finding is suppressed, so the comment is used


def test_a_different_selection_has_its_own_entry(lake: Path, family_runs: list[str]) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    assert codes(cached_run(lake, ignore=["LL401"])) == []
    family_runs.clear()
    assert [c for c, *_ in codes(cached_run(lake))] == ["LL401"]
    assert "columns" in family_runs


def test_the_generators_environment_is_part_of_the_key(
    lake: Path, family_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (lake / "lotus-check.toml").write_text('generator-env = ["CATALOG_FLAVOUR"]\n',
                                           encoding="utf-8")
    monkeypatch.setenv("CATALOG_FLAVOUR", "a")
    cached_run(lake)
    family_runs.clear()
    cached_run(lake)
    assert family_runs == []
    monkeypatch.setenv("CATALOG_FLAVOUR", "b")  # the generator may write other catalogs now
    cached_run(lake)
    assert "catalog" in family_runs


def test_no_cache_neither_reads_nor_writes_a_store(lake: Path) -> None:
    fresh_run(lake)
    assert not (lake / ".lotus_check_cache").exists()


# ---- a run on some files ------------------------------------------------------------------------


def test_a_run_on_some_files_replays_the_whole_result_scoped(
    lake: Path, family_runs: list[str]
) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    whole = cached_run(lake)
    family_runs.clear()
    on_model, on_config = cached_run(lake, [ORDERS_MODEL]), cached_run(lake, [ORDERS_CONFIG])
    assert family_runs == []
    assert codes(on_model) == codes(whole) == codes(fresh_run(lake, [ORDERS_MODEL])) != []
    assert codes(on_config) == [] == codes(fresh_run(lake, [ORDERS_CONFIG]))
    assert on_model.files_checked == 1


def test_a_finding_that_may_move_to_a_listed_file_is_not_scoped_by_replay(
    lake: Path, family_runs: list[str]
) -> None:
    """A catalog finding sits on the catalog in a whole-repo run, but on the stream config that
    made it stale when only the stream config is listed: the stored result cannot tell."""
    catalog = f"{STREAMS}/shopify/_catalog.json"
    (lake / catalog).unlink()
    whole = cached_run(lake)
    assert ("LL202", catalog) in [(c, p) for c, p, *_ in codes(whole)]
    family_runs.clear()
    listed = cached_run(lake, [ORDERS_CONFIG])
    assert "catalog" in family_runs
    assert codes(listed) == codes(fresh_run(lake, [ORDERS_CONFIG]))
    assert ("LL202", ORDERS_CONFIG) in [(c, p) for c, p, *_ in codes(listed)]


def test_a_run_on_some_files_stores_nothing(lake: Path) -> None:
    cached_run(lake)
    before = store_entry(lake).read_bytes()
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    found = cached_run(lake, [ORDERS_MODEL])
    assert codes(found) == codes(fresh_run(lake, [ORDERS_MODEL])) != []
    assert store_entry(lake).read_bytes() == before  # a targeted family may skip work


# ---- what is never stored -----------------------------------------------------------------------


def test_a_generator_failure_is_never_stored(lake: Path, family_runs: list[str]) -> None:
    (lake / GENERATOR).write_text("raise SystemExit(3)\n", encoding="utf-8")
    assert "LL204" in [c for c, *_ in codes(cached_run(lake))]
    assert not (lake / ".lotus_check_cache" / NAMESPACE).exists()
    family_runs.clear()
    cached_run(lake)
    assert len(family_runs) == len(FAMILY_MODULES)


def test_a_result_that_depends_on_the_time_budget_is_never_stored(
    lake: Path, family_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from lotus_checks.sql import _budget

    @contextlib.contextmanager
    def exhausted(_seconds: float):  # type: ignore[no-untyped-def]
        raise _budget.TimeLimitExceeded()
        yield  # pragma: no cover

    # The real budget's signal can be swallowed by a gc callback Hypothesis installs when the
    # whole suite runs (tests/robustness/test_budgets.py); here only its outcome matters.
    monkeypatch.setattr(_budget, "cpu_time_limit", exhausted)
    assert "LL008" in {c for c, *_ in codes(cached_run(lake))}
    family_runs.clear()
    cached_run(lake)
    assert len(family_runs) == len(FAMILY_MODULES)


def test_a_rendering_that_ran_out_of_time_is_never_stored(
    lake: Path, family_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The renderer's wall-clock limit depends on the machine, unlike its size limits."""
    from lotus_checks.sql import _jinja

    edit(lake, ORDERS_MODEL, "-- One row per order",
         "{% for i in range(1000) %}{% endfor %}\n-- One row per order")
    monkeypatch.setattr(_jinja, "MAX_SECONDS", -1.0)  # every deadline has passed
    assert ("LL004", ORDERS_MODEL) in [(c, p) for c, p, *_ in codes(cached_run(lake))]
    family_runs.clear()
    cached_run(lake)
    assert len(family_runs) == len(FAMILY_MODULES)
    monkeypatch.setattr(_jinja, "MAX_SECONDS", 2.0)  # a faster machine: nothing stale remains
    assert codes(cached_run(lake)) == codes(fresh_run(lake)) == []


def test_a_hint_from_git_status_is_never_stored(tmp_path: Path, family_runs: list[str]) -> None:
    """LL201's hint says whether the catalog was hand-edited, from `git status`: committing
    changes the hint without changing a file."""
    from tests.builders import git
    from tests.builders import git_init

    lake = git_init(build_lake(tmp_path / "lake"))
    catalog = lake / STREAMS / "shopify" / "_catalog.json"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace('"orders"', '"order"', 1),
                       encoding="utf-8")
    hints = [f.hint for f in cached_run(lake).findings if f.code == "LL201"]
    assert hints and "hand edit" in hints[0]
    git(lake, "commit", "-qam", "hand edit")
    family_runs.clear()
    hints = [f.hint for f in cached_run(lake).findings if f.code == "LL201"]
    assert "catalog" in family_runs
    assert hints and "hand edit" not in hints[0]


def test_an_oversized_file_is_stored(lake: Path, family_runs: list[str]) -> None:
    """LL008 for a file over max-file-size is a property of the file, not of the machine."""
    (lake / "lotus-check.toml").write_text("max-file-size = 3000\n", encoding="utf-8")
    first = cached_run(lake)
    assert "LL008" in {c for c, *_ in codes(first)}
    family_runs.clear()
    assert codes(cached_run(lake)) == codes(first)
    assert family_runs == []


def test_a_result_over_the_bound_is_not_stored(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    monkeypatch.setattr(replay, "MAX_STORED_FINDINGS", 0)
    cached_run(lake)
    assert not (lake / ".lotus_check_cache" / NAMESPACE).exists()
    monkeypatch.setattr(replay, "MAX_STORED_FINDINGS", 1)
    cached_run(lake)
    assert store_entry(lake).is_file()


# ---- a broken store is no store -----------------------------------------------------------------


@pytest.mark.parametrize("content", ['{"version": 4, "tree": ', "[]", '{"version": 4}', ""])
def test_a_corrupt_store_is_a_missing_one(
    lake: Path, family_runs: list[str], content: str
) -> None:
    cached_run(lake)
    store_entry(lake).write_text(content, encoding="utf-8")
    family_runs.clear()
    assert codes(cached_run(lake)) == []
    assert len(family_runs) == len(FAMILY_MODULES)  # nothing trusted from it
    family_runs.clear()
    cached_run(lake)  # and written again
    assert family_runs == []


@pytest.mark.parametrize("row", [
    ["a.sql", "1", 1, "LL401", "m", "error", ""],
    ["a.sql", 1, 1, "LL401", "m", "fatal", ""],
    [None, 1, 1, "LL401", "m", "error", ""],
    ["a.sql", 1, 1, "LL401", "m", "error"],
])
def test_a_malformed_finding_in_the_store_is_not_replayed(tmp_path: Path, row: list) -> None:
    config = Config(root=tmp_path)
    cache = Cache(tmp_path / config.cache_dir)
    store = ResultStore.open(cache, config, Repo(config))
    assert store is not None
    store.save([Finding("a.sql", 1, 1, "LL401", "m")])
    assert store.replay() == [Finding("a.sql", 1, 1, "LL401", "m")]
    entry = next((tmp_path / config.cache_dir / NAMESPACE).rglob("*.json"))
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["findings"] = [row]
    entry.write_text(json.dumps(data), encoding="utf-8")
    assert store.replay() is None


# ---- the tree digest ----------------------------------------------------------------------------


def digest_of(root: Path, **config: object) -> str:
    return tree_digest(Repo(Config(root=root, **config)))  # type: ignore[arg-type]


def test_the_tree_digest_sees_content_names_kinds_and_links(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.sql").write_text("select 1", encoding="utf-8")
    first = digest_of(tmp_path)
    assert digest_of(tmp_path) == first
    (tmp_path / "a" / "f.sql").write_text("select 2", encoding="utf-8")
    content = digest_of(tmp_path)
    assert content != first
    (tmp_path / "a" / "g.sql").symlink_to(tmp_path / "a" / "f.sql")
    linked = digest_of(tmp_path)
    assert linked != content
    (tmp_path / "a" / "g.sql").unlink()
    (tmp_path / "a" / "g.sql").symlink_to(tmp_path / "elsewhere.sql")
    assert digest_of(tmp_path) != linked
    (tmp_path / "a" / "g.sql").unlink()
    (tmp_path / "a" / "f.sql").rename(tmp_path / "a" / "h.sql")
    assert digest_of(tmp_path) not in (first, content, linked)


def test_the_tree_digest_names_pruned_folders_without_entering_them(tmp_path: Path) -> None:
    (tmp_path / "model.sql").write_text("select 1", encoding="utf-8")
    base = digest_of(tmp_path)
    (tmp_path / ".terraform").mkdir()  # hygiene reports it: its name counts
    named = digest_of(tmp_path)
    assert named != base
    (tmp_path / ".terraform" / "providers.lock").write_text("x", encoding="utf-8")
    (tmp_path / "target").mkdir()
    with_target = digest_of(tmp_path)
    (tmp_path / "target" / "manifest.json").write_text("{}", encoding="utf-8")
    assert digest_of(tmp_path) == with_target != named
    # The cache folder is not even named: every run writes it.
    (tmp_path / ".lotus_check_cache").mkdir()
    (tmp_path / ".lotus_check_cache" / "entry.json").write_text("{}", encoding="utf-8")
    assert digest_of(tmp_path) == with_target


def test_a_file_over_the_size_limit_counts_by_size_and_time(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"a" * 200)
    first = digest_of(tmp_path, max_file_size=100)
    info = big.stat()
    big.write_bytes(b"b" * 200)  # same size, same time: not read, so not seen
    os.utime(big, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert digest_of(tmp_path, max_file_size=100) == first
    os.utime(big, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    assert digest_of(tmp_path, max_file_size=100) != first
    # Under the limit the same edit is seen by content.
    assert digest_of(tmp_path, max_file_size=1000) != digest_of(tmp_path, max_file_size=100)


def test_a_fifo_in_the_tree_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    first = digest_of(tmp_path)  # returns: a FIFO would block a plain open()
    (tmp_path / "pipe.json").unlink()
    (tmp_path / "pipe.json").write_text("", encoding="utf-8")
    assert digest_of(tmp_path) != first


def test_a_cache_folder_below_another_folder_is_left_out_alone(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "notes.txt").write_text("a", encoding="utf-8")
    first = digest_of(tmp_path, cache_dir="build/cache")
    (tmp_path / "build" / "cache").mkdir()
    (tmp_path / "build" / "cache" / "entry.json").write_text("{}", encoding="utf-8")
    assert digest_of(tmp_path, cache_dir="build/cache") == first
    (tmp_path / "build" / "notes.txt").write_text("b", encoding="utf-8")  # beside it: seen
    assert digest_of(tmp_path, cache_dir="build/cache") != first
