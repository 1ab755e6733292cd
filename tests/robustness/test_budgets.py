"""Each file's work is bounded: a pathological file gets a finding after a size or time budget
instead of stalling the commit.

- size: files over `max-file-size` are LL008 before anything reads them whole;
- time: everything about one model (render both ways, parse, resolve) runs under a CPU budget
  (`sql/_budget.MODEL_SECONDS`); past it the model is LL008 and its facts are not cached;
- Jinja has its own budgets (calls, loop iterations, output size, render deadline): see
  tests/sql/test_render.py (sandbox and budgets section); here they are exercised through the CLI;
- loaders: YAML alias bombs are LL005 without expanding, JSON nested too deeply is LL002.

The in-process tests lower the budget (monkeypatch) so they prove the mechanism in a fraction of
a second; one child-process test proves the shipped default on a file sqlglot needs half a
minute for.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lotus_checks.core.loaders import LoadError
from lotus_checks.sql import _budget
from tests.robustness.helpers import CACHE_DIR
from tests.robustness.helpers import ORDERS_CONFIG
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import PROJECT
from tests.robustness.helpers import SOURCES_YML
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import run_process

HEADER = "{{ config(tags=['core', 'shopify__orders']) }}\nselect id from {{ source('shopify', 'orders') }}\n"
# ~3 MB (under max-file-size); sqlglot alone needs well over the budget to parse it.
LONG_OR_CHAIN = HEADER + "where " + " or ".join(f"a{i} = 1" for i in range(250_000)) + "\n"
# ~470 kB on one line; ~3.5 s unbounded.
WIDE_SELECT = "select " + ", ".join(f"c{i}" for i in range(60_000)) + " from {{ source('shopify', 'orders') }}"


def sqlglot_parser_is_python() -> bool:
    import sqlglot.parser

    return str(sqlglot.parser.__file__).endswith(".py")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")


def findings_on(lake: Path, path: str, *args: str) -> list[tuple[str, int | None]]:
    outcome = run_cli("--root", str(lake), "--output-format", "json", *args)
    assert_clean_end(outcome)
    return [(f["code"], f["line"]) for f in json.loads(outcome.out)["findings"] if f["path"] == path]


def facts_entries(lake: Path) -> int:
    folder = lake / CACHE_DIR / "sql-facts"
    return len(list(folder.rglob("*.json"))) if folder.is_dir() else 0


# ---- the CPU budget per model --------------------------------------------------------------------


def test_model_over_the_cpu_budget_is_ll008_quickly(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = _budget.MODEL_SECONDS
    monkeypatch.setattr(_budget, "MODEL_SECONDS", 0.3)
    (lake / ORDERS_MODEL).write_text(WIDE_SELECT)
    started = time.monotonic()
    found = findings_on(lake, ORDERS_MODEL, "--select", "LL0,LL4")
    # well within the shipped budget: the 0.3 s one ended it (wall time, so not tighter)
    assert time.monotonic() - started < shipped
    assert found == [("LL008", None)]


def test_model_over_the_budget_is_not_cached(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget depends on the machine: a skipped model is tried again next run."""
    from lotus_checks.sql import facts

    monkeypatch.setattr(_budget, "MODEL_SECONDS", 0.3)
    computed: list[str] = []
    real = facts.model_facts

    def counting(text: str, model_name: str, *args: object) -> dict:
        computed.append(model_name)
        return real(text, model_name, *args)

    monkeypatch.setattr(facts, "model_facts", counting)
    (lake / ORDERS_MODEL).write_text(WIDE_SELECT)
    for _ in range(2):
        assert findings_on(lake, ORDERS_MODEL, "--select", "LL0,LL4") == [("LL008", None)]
    # the two other models are computed once and cached; the skipped one every run
    assert sorted(computed) == sorted(["int_shopify__customers", "int_shopify__order_lines"]
                                      + ["int_shopify__orders"] * 2)
    assert facts_entries(lake) == 2


def test_ordinary_models_are_far_inside_the_budget(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The correct neighbour: a tenth of the shipped budget still checks every real model."""
    monkeypatch.setattr(_budget, "MODEL_SECONDS", _budget.MODEL_SECONDS / 10)
    outcome = run_cli("--root", str(lake), "--no-cache", "--output-format", "json")
    assert_clean_end(outcome)
    assert json.loads(outcome.out)["findings"] == []


def test_shipped_budget_bounds_a_pathological_model_through_the_cli(lake: Path) -> None:
    """LL008 when the budget runs out. sqlglot's compiled build (the `fast` extra) can get
    through this model in about the budget; it then ends at the nesting limit (LL003). Either
    way the run ends in bounded time with a finding on the model."""
    import resource

    (lake / ORDERS_MODEL).write_text(LONG_OR_CHAIN)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome = run_process("--root", str(lake), "--no-cache", "--output-format", "json",
                          "--select", "LL0,LL4", timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert_clean_end(outcome)
    found = [(f["code"], f["path"]) for f in json.loads(outcome.out)["findings"]]
    compiled = not sqlglot_parser_is_python()
    assert ("LL008", ORDERS_MODEL) in found or (compiled and ("LL003", ORDERS_MODEL) in found)
    # The budget is CPU time, and so is this bound (the child's): it adds start-up, the other
    # models and the kernel's share, which a busy machine inflates (about 7 s quiet, 10.3 s seen
    # during the full suite). Unbounded, the parse takes far longer.
    assert cpu < _budget.MODEL_SECONDS + 10, cpu


def spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.fixture
def unraisable() -> Iterator[list]:
    """What Python reports as "Exception ignored in" during the test (pytest's own hook would
    turn it into a warning), with the gc callbacks Hypothesis installs set aside."""
    saved_callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    reported: list = []
    saved_hook = sys.unraisablehook
    sys.unraisablehook = reported.append
    try:
        yield reported
    finally:
        sys.unraisablehook = saved_hook
        gc.callbacks.extend(saved_callbacks)


def test_cpu_time_limit_survives_a_swallowed_expiry(unraisable: list) -> None:
    """The first expiry raised inside a __del__ is swallowed by Python; the timer fires again,
    and the swallowed one is not printed as "Exception ignored in" with a traceback."""
    import signal

    expired_in_finalizer = []

    class Swallower:
        def __del__(self) -> None:
            # The budget runs out in here, and the expiry ends this spin. Long enough for any
            # machine: the timer counts user time, while process_time() also counts the system
            # time its own calls cost (most of a busy VM's share, so 0.2 s was sometimes not
            # enough for 0.05 s of user time).
            try:
                spin(3)
            except BaseException as expired:
                expired_in_finalizer.append(expired)
                raise

    with pytest.raises(_budget.TimeLimitExceeded):
        with _budget.cpu_time_limit(0.05):
            Swallower()  # dropped at once: __del__ runs, and swallows the first expiry
            spin(5)
    assert [type(e) for e in expired_in_finalizer] == [_budget.TimeLimitExceeded]
    assert unraisable == []
    assert sys.unraisablehook == unraisable.append
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)


def test_cpu_time_limit_never_expires_inside_the_unraisable_hook(unraisable: list) -> None:
    """Another finalizer's error still reaches the hook, and the hook runs to its end even when
    the budget runs out meanwhile (a tick raising there would print "Exception ignored in
    sys.unraisablehook" and cut the report short)."""
    reported = []

    def slow_hook(report: object) -> None:
        spin(0.5)  # the budget runs out in here
        reported.append(report)

    sys.unraisablehook = slow_hook

    class Failing:
        def __del__(self) -> None:
            raise ValueError("a finalizer's own error")

    with pytest.raises(_budget.TimeLimitExceeded):
        with _budget.cpu_time_limit(0.05):
            Failing()
            spin(5)
    assert [type(r.exc_value) for r in reported] == [ValueError]  # type: ignore[attr-defined]
    assert unraisable == []


def test_cpu_time_limit_restores_the_previous_handler() -> None:
    import signal

    before = signal.getsignal(signal.SIGVTALRM)
    with pytest.raises(_budget.TimeLimitExceeded):
        with _budget.cpu_time_limit(0.05):
            while True:
                pass
    assert signal.getsignal(signal.SIGVTALRM) is before
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    with _budget.cpu_time_limit(0.05):
        pass  # finishing inside the budget raises nothing
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)


# ---- sqlglot on pathological SQL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("select " + "(" * 20_000 + "1" + ")" * 20_000, "LL003"),
        ("select " + "case when a then " * 5_000 + "1" + " end" * 5_000, "LL003"),
        ("select 'never closed" + "x" * 500_000, "LL003"),
        ("select 1 /* never closed" + "x" * 500_000, "LL003"),
        ("select \"never closed" + "x" * 500_000, "LL003"),
    ],
    ids=["nested-parentheses", "nested-case", "open-string", "open-comment", "open-identifier"],
)
def test_pathological_sql_is_a_finding_not_a_stall(lake: Path, sql: str, code: str) -> None:
    (lake / ORDERS_MODEL).write_text(HEADER.split("\n")[0] + "\n" + sql)
    started = time.monotonic()
    found = findings_on(lake, ORDERS_MODEL, "--no-cache")
    assert time.monotonic() - started < _budget.MODEL_SECONDS + 5
    assert code in [c for c, _ in found]


def test_single_line_over_max_file_size_is_ll008_before_parsing(lake: Path) -> None:
    """A 5 MB single-line model: sqlglot would need minutes; the size limit stops it first."""
    (lake / ORDERS_MODEL).write_text("select " + "c, " * 1_700_000 + "c from t")
    started = time.monotonic()
    assert findings_on(lake, ORDERS_MODEL, "--no-cache") == [("LL008", None)]
    assert time.monotonic() - started < 5


# ---- Jinja through the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{% for i in range(10**7) %}{% endfor %}",
        "{% for i in range(3000) %}{% for j in range(3000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s }}",
        "{{ 2 ** 100000000 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ 'a'.ljust(10**10) }}",
    ],
)
def test_runaway_jinja_is_ll004_quickly(lake: Path, template: str) -> None:
    (lake / ORDERS_MODEL).write_text(HEADER + "-- " + template + "\n")
    started = time.monotonic()
    found = findings_on(lake, ORDERS_MODEL, "--no-cache")
    assert time.monotonic() - started < _budget.MODEL_SECONDS + 5
    assert "LL004" in [c for c, _ in found]


# ---- loaders --------------------------------------------------------------------------------------------


def yaml_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("target", [SOURCES_YML, PROJECT])
def test_yaml_alias_bomb_is_ll005_without_expanding(lake: Path, target: str) -> None:
    (lake / target).write_text(yaml_bomb(9))  # 10**9 nodes once expanded
    started = time.monotonic()
    assert ("LL005", None) in findings_on(lake, target, "--no-cache")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("opener", ["[", '{"a": '])
@pytest.mark.parametrize("depth", [10_000, 500_000])
def test_deeply_nested_json_is_ll002(lake: Path, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    (lake / ORDERS_CONFIG).write_text(opener * depth + "1" + closer * depth)
    found = findings_on(lake, ORDERS_CONFIG, "--no-cache")
    assert [c for c, _ in found if c.startswith("LL0")] == ["LL002"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000 + "1" + "]" * 200_000,
        "{a: " * 100_000 + "1" + "}" * 100_000,
        "".join(" " * i + "-\n" for i in range(3_000)),
        "- " * 100_000 + "x\n",
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences", "compact-sequences"],
)
def test_deeply_nested_yaml_is_ll005_not_a_crash(lake: Path, text: str) -> None:
    """libyaml's composer recurses in C: this used to kill the process with a segfault (found by
    test_fuzz_cli.test_fuzz_yaml_files). A child process, so a regression fails one test only."""
    (lake / SOURCES_YML).write_text(text)
    outcome = run_process("--root", str(lake), "--no-cache", "--output-format", "json",
                          "--select", "LL0", timeout=60)  # what loads it; not the generator
    assert_clean_end(outcome)
    found = [(f["code"], f["path"]) for f in json.loads(outcome.out)["findings"]]
    assert ("LL005", SOURCES_YML) in found


def test_ordinary_yaml_still_uses_the_fast_loader() -> None:
    """The correct neighbour: a real sources file stays far below the bound (C loader)."""
    from lotus_checks.core import loaders
    from tests.robustness.helpers import original

    text = original(SOURCES_YML).decode()
    assert loaders._nesting_bound(text) < loaders.C_LOADER_MAX_DEPTH
    assert loaders.parse_yaml(text).data["sources"][0]["name"] == "shopify"


def big_sources_yml(columns: int) -> str:
    """A sources file documenting `columns` columns: thousands of `-` and `:`, nested 6 deep."""
    lines = ["version: 2", "sources:", "  - name: shopify", "    tables:", "      - name: orders",
             "        columns:"]
    for i in range(columns):
        lines += [f"          - name: column_{i}", f"            description: 'Column {i}: a note'"]
    return "\n".join(lines) + "\n"


def test_a_big_sources_file_keeps_the_c_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of `- name:` lines are no sign of deep nesting: such a file once went to the
    pure-Python loader, ten times slower, because it counted every `-` and `:` as a level."""
    import yaml

    from lotus_checks.core import loaders

    text = big_sources_yml(5_000)
    assert loaders._nesting_bound(text) < loaders.C_LOADER_MAX_DEPTH

    def refuse(*args: object) -> None:
        raise AssertionError("the pure-Python loader was used")

    monkeypatch.setattr(yaml.SafeLoader, "__init__", refuse)
    columns = loaders.parse_yaml(text).data["sources"][0]["tables"][0]["columns"]
    assert len(columns) == 5_000


DEEP_YAML = "x: " + "[" * 5_000 + "1" + "]" * 5_000 + "\n"


def test_deep_yaml_is_ll005_at_once_with_the_installed_libyaml() -> None:
    """libyaml 0.2.6 and later refuse deep nesting themselves: a finding with a position, with
    no detour through the pure-Python loader (which is quadratic in flow nesting)."""
    from lotus_checks.core import loaders

    with pytest.raises(LoadError) as raised:
        loaders.parse_yaml(DEEP_YAML)
    assert raised.value.code == "LL005"
    if loaders._c_loader_limits_nesting():
        # At the bracket that goes too deep (libyaml's limit is about 1,000 levels).
        assert raised.value.line == 1 and 900 < (raised.value.column or 0) < 1_100


def test_deep_yaml_is_ll005_with_a_libyaml_that_does_not_limit_nesting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With libyaml before 0.2.6 (which would overflow the C stack), the pure-Python loader."""
    from lotus_checks.core import loaders

    monkeypatch.setattr(loaders, "_c_loader_limits_nesting", lambda: False)
    with pytest.raises(LoadError) as raised:
        loaders.parse_yaml(DEEP_YAML)
    assert (raised.value.code, raised.value.line) == ("LL005", None)
