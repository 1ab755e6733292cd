"""The fixture writer lands exactly what production lands: the selected fields, typed as the
Airbyte/dlt Parquet writers type them, plus the connector's metadata columns, hive-partitioned."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from lotus_checks.core.config import load_config
from tests.builders import REFERENCE_TREE
from tests.dbt.fixtures import duckdb_type
from tests.dbt.fixtures import write_fixture_data

AIRBYTE_META = ["_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id"]


def _describe(path: Path) -> dict[str, str]:
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"describe select * from read_parquet('{path.as_posix()}/**/*.parquet', hive_partitioning=true)"
        ).fetchall()
    return {name: kind for name, kind, *_ in rows}


def test_type_mapping() -> None:
    assert duckdb_type({"type": "integer"}) == "BIGINT"
    assert duckdb_type({"type": ["null", "number"]}) == "DOUBLE"
    assert duckdb_type({"type": "string", "format": "date-time"}) == "TIMESTAMPTZ"
    assert duckdb_type({"type": "object"}) == "JSON"
    assert duckdb_type({"type": "array", "items": {"type": "string"}}) == "VARCHAR[]"
    assert (
        duckdb_type({"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}})
        == 'STRUCT("id" BIGINT)[]'
    )
    nested = {"type": "object", "properties": {"a": {"type": "object", "properties": {"$b": {"type": "boolean"}}}}}
    assert duckdb_type(nested) == 'STRUCT("a" STRUCT("$b" BOOLEAN))'


def test_every_stream_lands_exactly_its_selected_fields(tmp_path: Path) -> None:
    written = write_fixture_data(load_config(REFERENCE_TREE.parent), tmp_path)
    configs = sorted((REFERENCE_TREE / "assets" / "streams").glob("*/[!_]*.json"))
    assert set(written) == {f"{p.parent.name}__{p.stem}" for p in configs}
    for path in configs:
        config = json.loads(path.read_text(encoding="utf-8"))
        data = written[f"{path.parent.name}__{path.stem}"]
        folder = tmp_path / path.parent.name / path.stem
        assert data.files[0].relative_to(folder).as_posix() == "year=2024/month=05/day=17/part-0.parquet"
        meta = ["_dlt_load_id", "_dlt_id"] if config.get("connector") == "dlt" else AIRBYTE_META
        columns = _describe(folder)
        assert list(columns) == [*config["fields"], *meta, "day", "month", "year"]


def test_nested_objects_are_structs_or_json(tmp_path: Path) -> None:
    write_fixture_data(load_config(REFERENCE_TREE.parent), tmp_path)
    profiles = _describe(tmp_path / "klaviyo" / "profiles")
    assert profiles["attributes"].startswith("STRUCT(")
    assert " properties JSON," in profiles["attributes"]
    assert profiles["_airbyte_meta"] == "STRUCT(sync_id BIGINT, changes JSON[])"
    orders = _describe(tmp_path / "shopify" / "orders")
    assert orders["line_items"].startswith("STRUCT(") and orders["line_items"].endswith("[]")
    assert orders["created_at"] == "TIMESTAMP WITH TIME ZONE"
