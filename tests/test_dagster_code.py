"""What the Dagster code tells about how it runs dbt: selections and vars, read with ast."""

from __future__ import annotations

import pytest

from lotus_checks.lake.dagster_code import DYNAMIC
from lotus_checks.lake.dagster_code import read_dagster_code
from lotus_checks.lake.dagster_code import selectors

HEADER = "import json\nfrom dagster_dbt import dbt_assets\n\n"


def test_selections_are_read_with_run_time_parts_marked() -> None:
    code = read_dagster_code([HEADER + (
        "def build(source, stream):\n"
        "    select = f'tag:{source}__{stream}'  # was: 'tag:core'\n"
        "    @dbt_assets(manifest=M, select=select)\n"
        "    def _a(context, dbt):\n"
        "        yield from dbt.cli(['build', '--select', 'tag:marts']).stream()\n"
    )])
    assert code.found
    assert sorted(code.selections) == sorted([f"tag:{DYNAMIC}__{DYNAMIC}", "tag:marts"])


def test_code_without_dagster_import_or_unparsable_is_not_found() -> None:
    assert not read_dagster_code(["select = 'tag:core'  # dagster\n"]).found
    assert not read_dagster_code(["from dagster import asset\ndef broken(:\n"]).found


@pytest.mark.parametrize(
    ("passing", "expected"),
    [
        ("'--vars', json.dumps({'file': f, 'files': fs})", {"file", "files"}),
        ("'--vars', json.dumps(dict(file=f))", {"file"}),
        ("'--vars', '{\"file\": \"x\"}'", {"file"}),
        ("'--vars', json.dumps(dbt_vars)", {"run_date"}),
        ("", set()),
        ("'--vars', json.dumps({**base, 'file': f})", None),  # cannot be read
        ("'--vars', make_vars()", None),
    ],
)
def test_passed_vars(passing: str, expected: set[str] | None) -> None:
    code = read_dagster_code([HEADER + (
        "dbt_vars = {'run_date': d}\n"
        f"args = ['build', {passing}]\n"
    )])
    assert code.passed_vars == (frozenset(expected) if expected is not None else None)


@pytest.mark.parametrize("change", ["dbt_vars['file'] = f", "dbt_vars.update(file=f)", "dbt_vars |= extra"])
def test_vars_changed_after_assignment_cannot_be_read(change: str) -> None:
    code = read_dagster_code([HEADER + (
        f"dbt_vars = {{'run_date': d}}\n{change}\nargs = ['build', '--vars', json.dumps(dbt_vars)]\n"
    )])
    assert code.passed_vars is None


def test_vars_flag_passed_another_way_cannot_be_read() -> None:
    code = read_dagster_code([HEADER + "args = 'build --vars ' + payload\n"])
    assert code.passed_vars is None


def test_selectors_drop_graph_operators() -> None:
    assert selectors("+tag:a tag:b+,2+tag:c @tag:d") == ["tag:a", "tag:b", "tag:c", "tag:d"]


def test_dbt_assets_without_select_runs_every_model() -> None:
    code = read_dagster_code([HEADER + "@dbt_assets(manifest=M)\ndef every(context, dbt):\n    pass\n"])
    assert code.selections == ("fqn:*",)
