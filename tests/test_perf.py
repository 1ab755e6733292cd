"""Performance levers that must not change behaviour: cache writes without fsync, memoised work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from lotus_checks.cache import Cache
from lotus_checks import engine
from lotus_checks.config import load_config
from lotus_checks.context import CheckContext
from lotus_checks.engine import RunResult
from lotus_checks.fsutil import atomic_write
from lotus_checks.repo import Repo
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_tree

MakeRepo = Callable[..., Path]
CONFIG = f"{STREAMS}/shopify/orders.json"
SCHEMA = f"{SOURCES}/shopify/orders.json"


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_atomic_write_is_durable_by_default(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic_write(tmp_path / "model.sql", b"select 1\n")
    assert (tmp_path / "model.sql").read_bytes() == b"select 1\n"
    assert len(fsyncs) == 1


def test_cache_entries_are_written_without_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    cache = Cache(tmp_path / ".cache")
    cache.put("ns", "ab" * 32, {"a": [1, 2]})
    assert cache.get("ns", "ab" * 32) == {"a": [1, 2]}
    assert fsyncs == []
    assert not list((tmp_path / ".cache" / "ns").rglob("*.tmp"))


# ---- LL501 / LL511: the quick pass ---------------------------------------------------------------


def _details(result: RunResult) -> list[tuple[object, ...]]:
    return [(f.code, f.path, f.line, f.column, f.message, f.hint) for f in result.findings]


def _ll5_count_and_jsonschema_imported(root: Path) -> list[str]:
    script = (
        "import sys; from pathlib import Path; from lotus_checks.config import load_config;"
        "from lotus_checks.engine import run;"
        f"result = run(load_config(Path({str(root)!r})), None, use_cache=False);"
        "print(sum(f.code.startswith('LL5') for f in result.findings), 'jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_valid_documents_never_reach_jsonschema(make_repo: MakeRepo) -> None:
    """The quick pass (fastjsonschema) answers for valid documents; an invalid one is worded by
    jsonschema."""
    root = make_repo({CONFIG: stream_config("orders"), SCHEMA: source_schema("orders")})
    assert _ll5_count_and_jsonschema_imported(root) == ["0", "False"]
    # the invalid neighbour:
    broken = make_repo({CONFIG: stream_config("orders", backfill="no"),
                        SCHEMA: source_schema("orders")})
    assert _ll5_count_and_jsonschema_imported(broken) == ["1", "True"]


# ---- model facts: rendered once per run, not at all when warm ---------------------------------------


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    from lotus_checks.sql import _jinja

    calls: list[tuple[str, bool]] = []
    real = _jinja.render

    def counting(template: str, **kwargs: object) -> object:
        calls.append((str(kwargs["model_name"]), bool(kwargs["incremental"])))
        return real(template, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_jinja, "render", counting)
    return calls


def test_each_model_is_rendered_once_per_way_and_not_at_all_when_warm(
    reference_repo: Path, renders: list[tuple[str, bool]]
) -> None:
    cold = check_tree(reference_repo, use_cache=True)
    every = Repo(load_config(reference_repo)).models
    models = {m.name for m in every}
    # The is_incremental() rendering only where the template can tell the two apart.
    incremental = {m.name for m in every
                   if "is_incremental" in (reference_repo / m.path).read_text()}
    assert len(models) > 3 and 0 < len(incremental) < len(models)
    assert sorted(renders) == sorted([(name, False) for name in models]
                                     + [(name, True) for name in incremental])
    renders.clear()
    warm = check_tree(reference_repo, use_cache=True)
    assert renders == []
    assert _details(warm) == _details(cold)


def test_one_file_run_renders_other_models_only_for_their_tags(
    reference_repo: Path, renders: list[tuple[str, bool]]
) -> None:
    model = next(m for m in Repo(load_config(reference_repo)).models if m.source is not None
                 and "is_incremental" in (reference_repo / m.path).read_text())
    full = check_tree(reference_repo)
    renders.clear()
    one = check_tree(reference_repo, [model.path])
    # the target rendered both ways (columns); the others once, plainly (coverage reads tags)
    assert sorted(way for name, way in renders if name == model.name) == [False, True]
    assert all(not way for name, way in renders if name != model.name)
    assert _details(one) == [d for d in _details(full) if d[1] == model.path]


def test_a_model_without_is_incremental_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from lotus_checks.sql import facts

    parsed: list[str] = []
    real = facts.parse

    def counting(sql: str, *args: object) -> object:
        parsed.append(sql)
        return real(sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(facts, "parse", counting)
    plain = facts.model_facts("select id from {{ source('shop', 'orders') }}\n", "int_shop__orders")
    assert len(parsed) == 1
    assert plain["renderings"][0] == plain["renderings"][1] is not None
    parsed.clear()
    incremental = facts.model_facts(
        "select id from {{ source('shop', 'orders') }}\n"
        "{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}\n",
        "int_shop__orders",
    )
    assert len(parsed) == 2
    assert incremental["renderings"][0] != incremental["renderings"][1]


def test_facts_computed_in_a_process_pool_give_the_same_findings(
    reference_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lotus_checks.sql import model_cache

    serial = check_tree(reference_repo)
    pooled: list[int] = []
    real = model_cache._collect

    def spy(ctx: object, todo: list, results: object) -> None:
        real(ctx, todo, results)  # type: ignore[arg-type]
        views = ctx.memo[model_cache._COVERAGE]  # type: ignore[attr-defined]
        pooled.append(sum(model.path in views for model, _ in todo))  # computed, not left over

    monkeypatch.setattr(model_cache, "POOL_THRESHOLD", 0)
    monkeypatch.setattr(model_cache, "_collect", spy)
    parallel = check_tree(reference_repo, use_cache=True, jobs=2)
    assert pooled == [len(Repo(load_config(reference_repo)).models)]
    assert _details(parallel) == _details(serial)
    assert len(list((reference_repo / ".lotus_check_cache" / "sql-facts").rglob("*.json"))) == pooled[0]


def test_cache_put_says_whether_it_wrote(tmp_path: Path) -> None:
    assert Cache(None).put("ns", "ab" * 32, 1) is False
    cache = Cache(tmp_path / ".cache")
    assert not cache.has("ns", "ab" * 32)
    assert cache.put("ns", "ab" * 32, 1) is True
    assert cache.has("ns", "ab" * 32)


def test_cached_facts_are_not_held_for_the_whole_run(
    reference_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lotus_checks.sql import model_cache

    held: dict[str, int] = {}
    real = engine._filter

    def spy(raw: list, ctx: CheckContext, selection: object, comments: object) -> object:
        held[str(ctx.cache.folder is not None)] = len(ctx.memo.get(model_cache._FACTS, {}))
        return real(raw, ctx, selection, comments)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_filter", spy)
    check_tree(reference_repo, use_cache=True)
    check_tree(reference_repo, use_cache=False)
    models = len(Repo(load_config(reference_repo)).models)
    # with a cache, facts live there; without one they stay in memory (never computed twice)
    assert held == {"True": 0, "False": models}
