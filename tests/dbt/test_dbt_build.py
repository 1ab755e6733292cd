"""The reference tree is a real dbt project: dbt-core parses it and dbt-duckdb builds every model
over fixture data, as Dagster runs it (per-stream `var("files")`, then the marts)."""

from __future__ import annotations

import duckdb

from tests.builders import REFERENCE_TREE
from tests.dbt.conftest import BuiltTree

MARTS = ("fct_sales", "dim_customers")


def test_dbt_parses_every_model_file(built_tree: BuiltTree) -> None:
    on_disk = {p.stem for p in (REFERENCE_TREE / "assets").rglob("*.sql")}
    assert set(built_tree.models) == on_disk


def test_every_dbt_invocation_succeeds(built_tree: BuiltTree) -> None:
    failed = [(run.args, run.error) for run in built_tree.runs if not run.success]
    assert failed == []


def test_every_model_builds_in_both_incremental_renderings(built_tree: BuiltTree) -> None:
    built = {uid for run in built_tree.runs[1:] for uid, status in run.statuses.items()
             if status == "success"}
    expected = {node.unique_id for node in built_tree.models.values()}
    assert expected <= built
    incremental = [n for n in built_tree.models.values() if n.materialized == "incremental"]
    assert incremental, "the reference tree has incremental models"
    for node in incremental:
        runs = [run for run in built_tree.runs[1:] if run.statuses.get(node.unique_id) == "success"]
        assert len(runs) == 2, f"{node.name} should build fresh and then incrementally"


def test_files_models_run_one_stream_at_a_time(built_tree: BuiltTree) -> None:
    files_models = built_tree.files_models()
    assert {"int_shopify__customers", "int_klaviyo__events"} <= set(files_models)


def test_every_model_has_rows(built_models: dict[str, int]) -> None:
    empty = sorted(name for name, rows in built_models.items() if rows == 0)
    assert empty == []


def test_marts_have_rows(built_tree: BuiltTree, built_models: dict[str, int]) -> None:
    for mart in MARTS:
        assert built_models[mart] > 0, mart
    with duckdb.connect(str(built_tree.database), read_only=True) as connection:
        lines = connection.execute(
            "select count(*) from fct_sales where order_id is not null and sku is not null"
        ).fetchone()[0]
    assert lines > 0


def test_nothing_is_written_into_the_repo(built_tree: BuiltTree) -> None:
    for leftover in ("target", "logs", "dbt_packages", "lotus_lake.duckdb"):
        assert not (REFERENCE_TREE / leftover).exists(), leftover


def test_dbt_parse_passes_without_the_runtime_vars(built_tree: BuiltTree) -> None:
    """A `var()` without default is None under `dbt parse` (dbt-core's ParseVar): the parse ran
    without `files`/`file`, and the models reading them (quoted or not) are in the manifest."""
    parse = built_tree.runs[0]
    assert parse.args == ["parse"] and parse.success
    raw = {name: node.raw_code for name, node in built_tree.models.items()}
    assert """'{{ var("file") }}'""" in raw["int_stripe__customers"]
    assert '{{ var("files") }}' in raw["int_shopify__customers"]
