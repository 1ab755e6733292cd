"""Fixture data for dbt and DuckDB: a few type-correct Parquet rows for every stream of a tree.

Each selected stream gets exactly the columns that land in production: the fields its stream
config selects (typed from the source schema when there is one, as Airbyte's catalog is) plus the
connector's metadata columns. Files go to the hive layout the models read,
`<root>/<source>/<stream>/year=YYYY/month=MM/day=DD/part-0.parquet`, and again beside the
stream's folder as `<root>/<source>/<stream>0.parquet` (the flat layout Airbyte's S3 destination
writes when its path format ends in the stream name; models read it with a glob).

JSON-schema -> DuckDB type mapping (what the Airbyte S3 Parquet destination and dlt produce):
objects with `properties` are STRUCTs (recursively), objects without are JSON, arrays are LISTs
of their item type, `format: date-time` strings are TIMESTAMPTZ, integer BIGINT, number DOUBLE,
boolean BOOLEAN, other strings VARCHAR.

Values are chosen so joins across streams meet: integers are the row number (so `order_id = 1`
finds order 1), strings are `<field>-<row>` (so emails agree between sources), booleans are false
(so `where not test` keeps rows). In the last row every top-level date-time that is neither the
cursor nor part of the primary key is NULL, so "not cancelled" / "not closed" filters keep a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lotus_checks.core.config import Config
from lotus_checks.lake.catalog_schema import is_field_map
from lotus_checks.repo.model import Repo
from lotus_checks.repo.model import Stream

AIRBYTE_META_TYPE = "STRUCT(sync_id BIGINT, changes JSON[])"
PARTITION_DAY = date(2024, 5, 17)
ROWS = 3
# String values some reference models filter on, so that every reference model has rows:
# (source, stream, dotted field path) -> value. `[]` steps into array items.
STRING_VALUES = {
    ("klaviyo", "lists", "type"): "list",
    ("shopify", "order_refunds", "transactions[].kind"): "refund",
    ("shopify", "order_refunds", "transactions[].status"): "success",
}


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    # One SQL expression per row, already cast to `sql_type`.
    values: tuple[str, ...]


@dataclass(frozen=True)
class StreamData:
    source: str
    stream: str
    connector: str
    columns: tuple[Column, ...]
    files: tuple[Path, ...]

    @property
    def tag(self) -> str:
        return f"{self.source}__{self.stream}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stream_definition(repo: Repo, stream: Stream) -> dict[str, Any] | None:
    """The stream config as JSON data, or None when it cannot be loaded."""
    doc = repo.json(stream.config_path)
    return doc.data if doc is not None and isinstance(doc.data, dict) else None


def stream_columns(repo: Repo, stream: Stream, rows: int = ROWS) -> tuple[Column, ...] | None:
    """Every column the stream lands, with `rows` values each; None for an unselected stream."""
    config = stream_definition(repo, stream)
    if config is None or config.get("selected") is False:
        return None
    offered = _source_fields(repo, stream)
    key_fields = {path[0] for path in config.get("primary_key") or [] if path}
    cursor = (config.get("cursor_field") or [None])[0]
    columns = []
    for name, own in (config.get("fields") or {}).items():
        definition = offered.get(name, own)
        sql_type = duckdb_type(definition)
        nullable_last = (
            _is_datetime(definition) and name != cursor and name not in key_fields
        )
        values = tuple(
            "NULL::" + sql_type
            if nullable_last and row == rows
            else f"CAST({literal(definition, name, row, _known(stream))} AS {sql_type})"
            for row in range(1, rows + 1)
        )
        columns.append(Column(name, sql_type, values))
    return tuple(columns) + metadata_columns(config.get("connector", "airbyte"), rows)


def metadata_columns(connector: str, rows: int = ROWS) -> tuple[Column, ...]:
    if connector == "dlt":
        return (
            Column("_dlt_load_id", "VARCHAR", tuple(f"'1715940000.{r}'" for r in range(1, rows + 1))),
            Column("_dlt_id", "VARCHAR", tuple(f"'dlt-{r}'" for r in range(1, rows + 1))),
        )
    return (
        Column("_airbyte_raw_id", "VARCHAR", tuple(f"'raw-{r}'" for r in range(1, rows + 1))),
        Column(
            "_airbyte_extracted_at",
            "TIMESTAMPTZ",
            tuple(f"TIMESTAMPTZ '{_timestamp(r)}'" for r in range(1, rows + 1)),
        ),
        Column(
            "_airbyte_meta",
            AIRBYTE_META_TYPE,
            tuple(f"CAST({{'sync_id': {r}, 'changes': []}} AS {AIRBYTE_META_TYPE})" for r in range(1, rows + 1)),
        ),
        Column("_airbyte_generation_id", "BIGINT", tuple("0::BIGINT" for _ in range(rows))),
    )


def duckdb_type(definition: Any) -> str:
    kind = _json_type(definition)
    if kind == "object":
        properties = definition.get("properties")
        if isinstance(properties, dict) and properties:
            members = ", ".join(
                f"{quote_ident(name)} {duckdb_type(sub)}" for name, sub in properties.items()
            )
            return f"STRUCT({members})"
        return "JSON"
    if kind == "array":
        return f"{duckdb_type(_items(definition))}[]"
    if kind == "integer":
        return "BIGINT"
    if kind == "number":
        return "DOUBLE"
    if kind == "boolean":
        return "BOOLEAN"
    if kind == "string" and _is_datetime(definition):
        return "TIMESTAMPTZ"
    return "VARCHAR"


def literal(
    definition: Any, path: str, row: int, known: dict[str, str] | None = None
) -> str:
    """An uncast SQL literal for one value of the field at dotted `path` (casting happens once,
    at the top). `known` maps paths to fixed string values."""
    kind = _json_type(definition)
    name = path.rsplit(".", 1)[-1].removesuffix("[]")
    if kind == "object":
        properties = definition.get("properties")
        if isinstance(properties, dict) and properties:
            members = ", ".join(
                f"{quote_str(key)}: {literal(sub, f'{path}.{key}', row, known)}"
                for key, sub in properties.items()
            )
            return "{" + members + "}"
        return quote_str(json.dumps({f"{name}_key": f"{name}-{row}"}))
    if kind == "array":
        item = _items(definition)
        return "[" + ", ".join(literal(item, f"{path}[]", row, known) for _ in range(2)) + "]"
    if known and path in known:
        return quote_str(known[path])
    if kind == "integer":
        return str(row)
    if kind == "number":
        return f"{row}.5"
    if kind == "boolean":
        return "false"
    if kind == "string" and _is_datetime(definition):
        return quote_str(_timestamp(row))
    return quote_str(f"{name}-{row}")


def select_sql(columns: tuple[Column, ...]) -> str:
    rows = len(columns[0].values) if columns else 0
    selects = [
        "SELECT " + ", ".join(f"{c.values[r]} AS {quote_ident(c.name)}" for c in columns)
        for r in range(rows)
    ]
    return "\nUNION ALL\n".join(selects)


def partition_folder(root: Path, source: str, stream: str, day: date = PARTITION_DAY) -> Path:
    return root / source / stream / f"year={day.year:04d}" / f"month={day.month:02d}" / f"day={day.day:02d}"


def write_fixture_data(config: Config, raw_root: Path, rows: int = ROWS) -> dict[str, StreamData]:
    """Write Parquet files for every selected stream of the tree below `raw_root`.

    Returns tag (`<source>__<stream>`) -> what was written."""
    import duckdb

    repo = Repo(config)
    out: dict[str, StreamData] = {}
    connection = duckdb.connect()
    try:
        for stream in repo.streams:
            columns = stream_columns(repo, stream, rows)
            if not columns:
                continue
            folder = partition_folder(raw_root, stream.source, stream.name)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / "part-0.parquet"
            flat = raw_root / stream.source / f"{stream.name}0.parquet"
            for path in (target, flat):
                connection.execute(
                    f"COPY ({select_sql(columns)}) TO {quote_str(str(path))} (FORMAT parquet)"
                )
            definition = stream_definition(repo, stream) or {}
            data = StreamData(
                stream.source, stream.name, definition.get("connector", "airbyte"), columns, (target,)
            )
            out[data.tag] = data
    finally:
        connection.close()
    return out


def _source_fields(repo: Repo, stream: Stream) -> dict[str, Any]:
    if stream.schema_path is None:
        return {}
    doc = repo.json(stream.schema_path)
    fields = doc.data.get("fields") if doc is not None and isinstance(doc.data, dict) else None
    return fields if isinstance(fields, dict) else {}


def _known(stream: Stream) -> dict[str, str]:
    return {
        path: value
        for (source, name, path), value in STRING_VALUES.items()
        if (source, name) == (stream.source, stream.name)
    }


def _items(definition: dict[str, Any]) -> dict[str, Any]:
    """An array's item definition as the generator writes it: an `items` map of field names
    (a discovery step's form) is an object with those fields."""
    items = definition.get("items")
    if is_field_map(items):
        return {"type": "object", "properties": items}
    return items if isinstance(items, dict) else {}


def _json_type(definition: Any) -> str:
    if not isinstance(definition, dict):
        return "string"
    kind = definition.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and "properties" in definition:
        return "object"
    return kind if isinstance(kind, str) else "string"


def _is_datetime(definition: Any) -> bool:
    return isinstance(definition, dict) and definition.get("format") == "date-time"


def _timestamp(row: int) -> str:
    return f"{PARTITION_DAY.isoformat()} {9 + row:02d}:00:00+00"
