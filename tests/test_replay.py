"""Replaying a family's findings when nothing it looked at changed (lotus_checks/replay.py).

The one property that matters: a run that replays gives exactly the findings of a run that
computes everything (`--no-cache`), whatever was edited, added, removed or put back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks import engine
from lotus_checks.cache import Cache
from lotus_checks.config import Config
from lotus_checks.config import load_config
from lotus_checks.config import with_overrides
from lotus_checks.engine import RunResult
from lotus_checks.engine import run
from lotus_checks.finding import Finding
from lotus_checks.replay import NAMESPACE
from lotus_checks.replay import ReplayStore
from lotus_checks.replay import tree_listing_digest
from lotus_checks.repo import Repo
from tests.builders import CORE
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.conftest import codes

ORDERS_MODEL = f"{CORE}/shopify/int_shopify__orders.sql"
ORDERS_CONFIG = f"{STREAMS}/shopify/orders.json"
SHOPIFY_SOURCES = f"{CORE}/shopify/_shopify__sources.yml"
TERRAFORM = "orchestration/airbyte/terraform/connections.tf"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return copy_reference(tmp_path / "lake")


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


# ---- what is replayed and what runs -------------------------------------------------------------


def test_a_warm_run_replays_every_family(lake: Path, family_runs: list[str]) -> None:
    first = cached_run(lake)
    assert family_runs  # the cold run ran them
    family_runs.clear()
    second = cached_run(lake)
    assert family_runs == []
    assert codes(second) == codes(first) == []


def test_an_edit_runs_only_the_families_that_read_the_file(
    lake: Path, family_runs: list[str]
) -> None:
    cached_run(lake)
    family_runs.clear()
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    found = cached_run(lake)
    assert ("LL401", ORDERS_MODEL) in [(c, p) for c, p, _l, _c in codes(found)]
    # The columns family reads the model; catalog and stream-config checks never do.
    assert "columns" in family_runs
    assert "catalog" not in family_runs and "stream_config" not in family_runs


def test_a_model_edit_that_keeps_its_tags_and_sources_does_not_run_coverage_again(
    lake: Path, family_runs: list[str]
) -> None:
    """Coverage depends on a model through its tags and source() calls (a derived value): an
    edit of the select list leaves those alone."""
    cached_run(lake)
    family_runs.clear()
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    found = cached_run(lake)
    assert "columns" in family_runs and "coverage" not in family_runs
    assert codes(found) == codes(fresh_run(lake))


def test_a_tag_edit_runs_coverage_again(lake: Path, family_runs: list[str]) -> None:
    cached_run(lake)
    family_runs.clear()
    edit(lake, ORDERS_MODEL, "'shopify__orders'", "'shopify__order'")
    found = cached_run(lake)
    assert "coverage" in family_runs
    assert {"LL303", "LL304"} & {c for c, *_ in codes(found)}
    assert codes(found) == codes(fresh_run(lake))


def test_a_result_that_depends_on_the_time_budget_is_not_recorded(
    lake: Path, family_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over its CPU budget a model's tags are unknown; coverage then saw a machine-dependent
    view, and runs again next time rather than replaying it."""
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
    assert {"coverage", "columns"} <= set(family_runs)


def test_a_rendering_that_ran_out_of_time_is_neither_cached_nor_replayed(
    lake: Path, family_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The renderer's wall-clock limit depends on the machine, unlike its size limits."""
    from lotus_checks.sql import _jinja

    edit(lake, ORDERS_MODEL, "-- One row per order",
         "{% for i in range(1000) %}{% endfor %}\n-- One row per order")
    monkeypatch.setattr(_jinja, "MAX_SECONDS", -1.0)  # every deadline has passed
    found = [(c, p) for c, p, _l, _c in codes(cached_run(lake))]
    assert ("LL004", ORDERS_MODEL) in found
    family_runs.clear()
    cached_run(lake)
    assert {"coverage", "columns"} <= set(family_runs)
    monkeypatch.setattr(_jinja, "MAX_SECONDS", 2.0)  # a faster machine: nothing stale remains
    assert codes(cached_run(lake)) == codes(fresh_run(lake)) == []


def test_putting_a_file_back_gives_the_clean_result_again(lake: Path) -> None:
    """Two families read the model; one running again must not make the other's stale entry
    look current (a digest map updated mid-run did exactly that)."""
    config = with_overrides(load_config(lake), select=["LL4", "LL003", "LL004"])
    assert codes(run(config, use_cache=True)) == []
    original = edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    assert [c for c, *_ in codes(run(config, use_cache=True))] == ["LL401"]
    (lake / ORDERS_MODEL).write_text(original, encoding="utf-8")
    assert codes(run(config, use_cache=True)) == []


def test_a_new_file_runs_every_family_again(lake: Path, family_runs: list[str]) -> None:
    cached_run(lake)
    family_runs.clear()
    (lake / STREAMS / "shopify" / "refunds.json").write_text(
        (lake / ORDERS_CONFIG).read_text(encoding="utf-8").replace('"orders"', '"refunds"', 1),
        encoding="utf-8")
    found = cached_run(lake)
    assert set(family_runs) >= {"catalog", "coverage", "naming", "hygiene"}
    assert codes(found) == codes(fresh_run(lake)) != []


def test_work_shared_between_families_carries_its_inputs_to_both(lake: Path) -> None:
    """Both model families use dbt_project.yml's vars, read once per run (the first family to
    ask reads them). The second must still depend on the file, or it is replayed after a change
    of a var it rendered with."""
    edit(lake, ORDERS_MODEL, "lower(email) as email", 'lower({{ var("email_column") }}) as email')
    edit(lake, "orchestration/dbt_project.yml", "vars:\n", "vars:\n  email_column: email\n")
    assert codes(cached_run(lake)) == []
    edit(lake, "orchestration/dbt_project.yml", "email_column: email", "email_column: emial")
    found = cached_run(lake)
    assert ("LL401", ORDERS_MODEL) in [(c, p) for c, p, _l, _c in codes(found)]
    assert codes(found) == codes(fresh_run(lake))


def test_a_load_error_is_replayed_with_the_family_that_read_the_file(lake: Path) -> None:
    (lake / ORDERS_CONFIG).write_text('{"stream": "orders",', encoding="utf-8")
    first = cached_run(lake)
    second = cached_run(lake)
    assert ("LL002", ORDERS_CONFIG) in [(c, p) for c, p, _l, _c in codes(second)]
    assert codes(second) == codes(first) == codes(fresh_run(lake))


def test_a_noqa_comment_is_judged_on_a_replayed_run(lake: Path) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email,", "lower(email) as email, -- noqa: LL401")
    cached_run(lake)
    warm = cached_run(lake)
    assert [(c, p) for c, p, _l, _c in codes(warm)] == [("LL602", ORDERS_MODEL)]
    edit(lake, ORDERS_MODEL, "lower(email) as email,", "lower(emial) as email,")
    assert codes(cached_run(lake)) == []  # the finding is suppressed, so the comment is used


def test_a_different_selection_has_its_own_store(lake: Path, family_runs: list[str]) -> None:
    edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    assert codes(cached_run(lake, ignore=["LL401"])) == []
    family_runs.clear()
    assert [c for c, *_ in codes(cached_run(lake))] == ["LL401"]
    assert "columns" in family_runs


def test_a_run_on_some_files_replays_but_records_nothing(
    lake: Path, family_runs: list[str]
) -> None:
    cached_run(lake)
    store = next((lake / ".lotus_check_cache" / NAMESPACE).rglob("*.json"))
    before = store.read_bytes()
    original = edit(lake, ORDERS_MODEL, "lower(email) as email", "lower(emial) as email")
    family_runs.clear()
    found = cached_run(lake, [ORDERS_MODEL])
    assert "catalog" not in family_runs and "columns" in family_runs
    assert codes(found) == codes(fresh_run(lake, [ORDERS_MODEL]))
    assert store.read_bytes() == before  # a targeted family may skip work: never recorded
    (lake / ORDERS_MODEL).write_text(original, encoding="utf-8")
    assert codes(cached_run(lake)) == []


def test_transient_findings_are_never_replayed(lake: Path, family_runs: list[str]) -> None:
    generator = lake / "orchestration" / "airbyte" / "generate-catalog.py"
    generator.write_text("raise SystemExit(3)\n", encoding="utf-8")
    assert "LL204" in [c for c, *_ in codes(cached_run(lake))]
    family_runs.clear()
    cached_run(lake)
    assert family_runs == ["catalog"]


def test_a_hint_from_git_status_is_never_replayed(tmp_path: Path, family_runs: list[str]) -> None:
    """LL201's hint says whether the catalog was hand-edited, from `git status`: committing
    changes the hint without changing a file."""
    from tests.builders import git
    from tests.builders import git_init

    lake = git_init(copy_reference(tmp_path / "lake"))
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


def test_an_oversized_file_does_not_stop_replay(lake: Path, family_runs: list[str]) -> None:
    """LL008 for a file over max-file-size is a property of the file, not of the machine."""
    (lake / "lotus-check.toml").write_text("max-file-size = 3000\n", encoding="utf-8")
    first = cached_run(lake)
    assert "LL008" in {c for c, *_ in codes(first)}
    family_runs.clear()
    assert codes(cached_run(lake)) == codes(first)
    assert family_runs == []


def test_a_corrupt_store_is_an_empty_one(lake: Path, family_runs: list[str]) -> None:
    cached_run(lake)
    for store in (lake / ".lotus_check_cache" / NAMESPACE).rglob("*.json"):
        data = json.loads(store.read_text(encoding="utf-8"))
        data["units"]["columns"]["deps"] = [10**9]
        store.write_text(json.dumps(data), encoding="utf-8")
    family_runs.clear()
    assert codes(cached_run(lake)) == []
    assert len(family_runs) == 7  # nothing trusted from it


@pytest.mark.parametrize("row", [
    ["a.sql", "1", 1, "LL401", "m", "error", ""],
    ["a.sql", 1, 1, "LL401", "m", "fatal", ""],
    [None, 1, 1, "LL401", "m", "error", ""],
    ["a.sql", 1, 1, "LL401", "m", "error"],
])
def test_a_malformed_finding_in_the_store_is_not_replayed(tmp_path: Path, row: list) -> None:
    config = Config(root=tmp_path)
    cache = Cache(tmp_path / config.cache_dir)
    store = ReplayStore.open(cache, config, use_dbt=False)
    assert store is not None
    store.record("columns", {"a.sql": "d"}, [])
    store.save(FakeInputs({"a.sql": "d"}))
    entry = next((tmp_path / config.cache_dir / NAMESPACE).rglob("*.json"))
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["units"]["columns"]["value"] = [row]
    entry.write_text(json.dumps(data), encoding="utf-8")
    reopened = ReplayStore.open(cache, config, use_dbt=False)
    assert reopened is not None and reopened.replay("columns", FakeInputs({"a.sql": "d"})) is None


def test_no_cache_neither_reads_nor_writes_a_store(lake: Path) -> None:
    fresh_run(lake)
    assert not (lake / ".lotus_check_cache").exists()


class FakeInputs:
    """Digests as given; no file status (so every dependency is compared by digest)."""

    def __init__(self, digests: dict[str, str]):
        self.digests = digests

    def digest(self, key: str) -> str:
        return self.digests[key]

    def unchanged_since(self, path: str, status: list[int]) -> bool:
        return False

    def stable_status(self, path: str) -> list[int] | None:
        return None


# ---- unread when unchanged: the file status shortcut ----------------------------------------------


@pytest.fixture
def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from lotus_checks import repo as repo_module

    read: list[str] = []
    real = repo_module.Repo._read_bytes

    def recording(self: Repo, path: str) -> bytes:
        read.append(path)
        return real(self, path)

    monkeypatch.setattr(repo_module.Repo, "_read_bytes", recording)
    return read


def test_a_warm_run_reads_no_file_whose_status_is_unchanged(
    lake: Path, files_read: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lotus_checks import repo as repo_module

    monkeypatch.setattr(repo_module, "_settled_before", lambda: 2**62)  # every file is settled
    cached_run(lake)
    files_read.clear()
    assert codes(cached_run(lake)) == []
    assert files_read == []


def test_same_size_and_mtime_but_new_content_is_still_seen(
    lake: Path, files_read: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `cp -p` or a restore with preserved times does: the ctime still moves."""
    import os

    from lotus_checks import repo as repo_module

    monkeypatch.setattr(repo_module, "_settled_before", lambda: 2**62)
    cached_run(lake)
    path = lake / ORDERS_MODEL
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("lower(email) as email", "lower(emial) as email", 1),
                    encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    files_read.clear()
    assert ("LL401", ORDERS_MODEL) in [(c, p) for c, p, _l, _c in codes(cached_run(lake))]
    assert ORDERS_MODEL in files_read


def test_a_file_changed_just_before_it_was_read_is_always_read_again(
    lake: Path, files_read: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change within the same clock tick could repeat its status: such files get no status
    and are compared by content next time (git's racily clean entries)."""
    import time

    from lotus_checks import repo as repo_module

    settled = time.time_ns()
    time.sleep(0.05)
    (lake / ORDERS_MODEL).write_text((lake / ORDERS_MODEL).read_text(encoding="utf-8") + "\n",
                                     encoding="utf-8")
    monkeypatch.setattr(repo_module, "_settled_before", lambda: settled)
    cached_run(lake)
    files_read.clear()
    cached_run(lake)
    assert files_read == [ORDERS_MODEL]


# ---- what the repo model tracks -------------------------------------------------------------------


def test_probes_and_reads_are_tracked_with_their_digests(lake: Path) -> None:
    repo = Repo(load_config(lake))
    repo.start_tracking()
    assert repo.text(ORDERS_MODEL) is not None
    assert repo.is_file(".hidden/absent.json") is False
    assert repo.is_dir("orchestration") is True
    deps = repo.stop_tracking()
    assert deps == {ORDERS_MODEL: repo.digest(ORDERS_MODEL),
                    "?f:.hidden/absent.json": "no", "?d:orchestration": "yes"}
    (lake / ".hidden").mkdir()
    (lake / ".hidden" / "absent.json").write_text("{}", encoding="utf-8")
    assert Repo(load_config(lake)).digest("?f:.hidden/absent.json") == "yes"


def test_a_file_linked_from_outside_is_never_read_for_its_digest(lake: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text('{"token": "x"}', encoding="utf-8")
    (lake / STREAMS / "shopify" / "linked.json").symlink_to(outside)
    assert Repo(load_config(lake)).digest(f"{STREAMS}/shopify/linked.json").startswith("!LL001")


def test_the_listing_digest_sees_names_kinds_and_links_but_not_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.sql").write_text("select 1", encoding="utf-8")
    first = tree_listing_digest(tmp_path, ".lotus_check_cache")
    (tmp_path / "a" / "f.sql").write_text("select 2", encoding="utf-8")
    assert tree_listing_digest(tmp_path, ".lotus_check_cache") == first
    (tmp_path / ".lotus_check_cache").mkdir()
    (tmp_path / ".lotus_check_cache" / "entry.json").write_text("{}", encoding="utf-8")
    with_cache = tree_listing_digest(tmp_path, ".lotus_check_cache")
    (tmp_path / ".lotus_check_cache" / "other.json").write_text("{}", encoding="utf-8")
    assert tree_listing_digest(tmp_path, ".lotus_check_cache") == with_cache == first
    (tmp_path / "a" / "g.sql").symlink_to(tmp_path / "a" / "f.sql")
    linked = tree_listing_digest(tmp_path, ".lotus_check_cache")
    assert linked != with_cache
    (tmp_path / "a" / "g.sql").unlink()
    (tmp_path / "a" / "g.sql").symlink_to(tmp_path / "elsewhere.sql")
    assert tree_listing_digest(tmp_path, ".lotus_check_cache") != linked
    (tmp_path / "a" / ".terraform").mkdir()
    assert tree_listing_digest(tmp_path, ".lotus_check_cache") not in (linked, with_cache)


def test_replay_compares_against_the_recorded_digests_only(tmp_path: Path) -> None:
    config = Config(root=tmp_path)
    cache = Cache(tmp_path / config.cache_dir)
    store = ReplayStore.open(cache, config, use_dbt=False)
    assert store is not None
    finding = Finding("a.sql", 1, 1, "LL401", "column `x` does not exist")
    store.record("columns", {"a.sql": "old"}, [finding])
    store.record("coverage", {"a.sql": "old"}, [])
    store.save(FakeInputs({"a.sql": "old"}))
    unchanged = ReplayStore.open(cache, config, use_dbt=False)
    assert unchanged is not None
    assert unchanged.replay("columns", FakeInputs({"a.sql": "old"})) == [finding]
    changed = ReplayStore.open(cache, config, use_dbt=False)  # a later run: a.sql changed
    assert changed is not None
    changed.record("coverage", {"a.sql": "new"}, [])  # coverage ran and saw the new content
    assert changed.replay("columns", FakeInputs({"a.sql": "new"})) is None


# ---- the property -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One change a developer might make; applying it twice puts the file back."""

    name: str
    path: str
    old: str | None  # None: the file is new (created, then deleted)
    new: str


EDITS = (
    Edit("column typo", ORDERS_MODEL, "lower(email) as email", "lower(emial) as email"),
    Edit("field dropped from a stream config", ORDERS_CONFIG, '"email"', '"email_address"'),
    Edit("table dropped from a sources file", SHOPIFY_SOURCES, "      - name: orders\n", ""),
    Edit("new stream without a model", f"{STREAMS}/shopify/refunds.json", None,
         '{"stream": "refunds", "sync_mode": "incremental", "fields": {}}\n'),
    Edit("malformed source schema", f"{SOURCES}/shopify/orders.json", "{", "{,"),
    Edit("unused noqa", ORDERS_MODEL, "    order_number,", "    order_number, -- noqa"),
    Edit("catalog path in Terraform", TERRAFORM, "streams/shopify/_catalog.json",
         "streams/shopify/catalog.json"),
    Edit("stream tag renamed", ORDERS_MODEL, "'shopify__orders'", "'shopify__order'"),
    Edit("source() call changed", f"{CORE}/shopify/int_shopify__products.sql",
         "source('shopify', 'products')", "source('shopify', 'product')"),
)


def write_state(root: Path, active: set[int], originals: dict[str, str]) -> None:
    """Every file EDITS touch, as the original with the active edits applied."""
    for path in {item.path for item in EDITS}:
        full = root / path
        if path not in originals:
            originals[path] = full.read_text(encoding="utf-8") if full.exists() else ""
        text = originals[path]
        exists = full.exists() or bool(text)
        for i in sorted(active):
            item = EDITS[i]
            if item.path != path:
                continue
            if item.old is None:
                text, exists = item.new, True
            else:
                assert item.old in text, item.name
                text = text.replace(item.old, item.new, 1)
        if path in originals and not originals[path] and not any(
                EDITS[i].path == path for i in active):
            exists = False
        if exists:
            if not full.exists() or full.read_text(encoding="utf-8") != text:
                full.write_text(text, encoding="utf-8")
        elif full.exists():
            full.unlink()


@pytest.fixture(scope="module")
def property_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_reference(tmp_path_factory.mktemp("replay-lake"))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(EDITS) - 1), min_size=1, max_size=4))
def test_replayed_runs_equal_full_runs_whatever_is_edited(
    property_lake: Path, steps: list[int]
) -> None:
    """Each step switches one edit on or off; after each, a cached run (replaying what it can)
    must report exactly what a run computing everything reports."""
    originals: dict[str, str] = {}
    active: set[int] = set()
    try:
        for step in steps:
            active ^= {step}
            write_state(property_lake, active, originals)
            assert codes(cached_run(property_lake)) == codes(fresh_run(property_lake)), \
                [EDITS[i].name for i in sorted(active)]
    finally:
        write_state(property_lake, set(), originals)
    assert codes(cached_run(property_lake)) == []


# ---- the store's key: the installed code by content -------------------------------------------


@pytest.fixture
def installed_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the lotus_checks package that environment_key takes for the installed code."""
    import shutil

    from lotus_checks import replay

    package = Path(replay.__file__).resolve().parent
    copy = tmp_path / "site" / "lotus_checks"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(replay, "__file__", str(copy / "replay.py"))
    return copy


def test_the_store_key_ignores_modification_times_of_the_installed_code(
    installed_copy: Path, tmp_path: Path
) -> None:
    """CI installs lotus-check afresh in every job: same bytes, new times. A key with the times
    in it would never match a restored store."""
    import os

    from lotus_checks.replay import environment_key

    config = Config(root=tmp_path)
    before = environment_key(config, False)
    for path in installed_copy.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert environment_key(config, False) == before
    rules = installed_copy / "rules.py"
    rules.write_text(rules.read_text("utf-8") + "\n# changed\n", "utf-8")
    assert environment_key(config, False) != before


def test_the_store_key_sees_a_new_file_in_the_installed_code(installed_copy: Path,
                                                             tmp_path: Path) -> None:
    from lotus_checks.replay import environment_key

    config = Config(root=tmp_path)
    before = environment_key(config, False)
    (installed_copy / "checks" / "extra.py").write_text("", "utf-8")
    assert environment_key(config, False) != before


def test_installed_distributions_name_their_versions(tmp_path: Path) -> None:
    from lotus_checks.replay import installed_distributions

    (tmp_path / "sqlglot-25.0.0.dist-info").mkdir()
    (tmp_path / "sqlglot").mkdir()
    before = installed_distributions(tmp_path)
    assert before == "sqlglot-25.0.0.dist-info"
    (tmp_path / "sqlglot-25.0.0.dist-info").rename(tmp_path / "sqlglot-26.1.0.dist-info")
    assert installed_distributions(tmp_path) != before
