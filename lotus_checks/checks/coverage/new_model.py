"""The model `--unsafe-fixes` writes for a stream that has none (LL302): a starting point in the
style of the source's other stream models, to be reviewed before it is pushed.

It copies a sibling model's `config()` keys and materialization and its way of reading raw data
(`source()`, a `read_parquet` path, or the orchestrator's `var("files")`), tags the model with the
stream tag, and selects every field the stream syncs plus the connector's metadata columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lotus_checks.checks.coverage.edits import matching_close

# Columns each connector adds to every row it lands (what a model can read besides the fields).
METADATA_COLUMNS = {
    "airbyte": ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id"),
    "dlt": ("_dlt_load_id", "_dlt_id"),
}
# The metadata column an incremental model resumes from (rows landed after the last build).
LANDED_AT = {"airbyte": "_airbyte_extracted_at", "dlt": "_dlt_load_id"}
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# DuckDB's keywords that cannot stand as a bare column name (`duckdb_keywords()`, every category
# but unreserved; a test keeps the list in step with the installed DuckDB).
NOT_BARE = frozenset({
    "all", "analyse", "analyze", "and", "anti", "any", "array", "as", "asc", "asof", "asymmetric",
    "at", "authorization", "between", "bigint", "binary", "bit", "boolean", "both", "by", "case",
    "cast", "char", "character", "check", "coalesce", "collate", "collation", "column", "columns",
    "concurrently", "constraint", "create", "cross", "dec", "decimal", "default",
    "deferrable", "desc", "describe", "distinct", "do", "else", "end", "except", "exists",
    "extract", "false", "fetch", "float", "for", "foreign", "freeze", "from", "full", "generated",
    "glob", "group", "grouping", "grouping_id", "having", "ilike", "in", "initially",
    "inner", "inout", "int", "integer", "intersect", "interval", "into", "is", "isnull", "join",
    "lambda", "lateral", "leading", "left", "like", "limit", "map", "national", "natural",
    "nchar", "none", "not", "notnull", "null", "nullif", "numeric", "offset", "on", "only", "or",
    "order", "out", "outer", "overlaps", "overlay", "pivot", "pivot_longer", "pivot_wider",
    "placing", "position", "positional", "precision", "primary", "qualify", "real", "references",
    "returning", "right", "row", "select", "semi", "setof", "show", "similar", "smallint", "some",
    "struct", "substring", "summarize", "symmetric", "table", "tablesample", "then",
    "time", "timestamp", "to", "trailing", "treat", "trim", "true", "try_cast", "tuple", "union", "unique", "unpack", "unpivot", "using", "values", "varchar",
    "variadic", "verbose", "when", "where", "window", "with", "xmlattributes", "xmlconcat",
    "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot",
    "xmlserialize", "xmltable",
})
_INCREMENTAL_KEYS = ("unique_key", "incremental_strategy")
# The sibling's config() keys that describe how a stream model is built; the others (alias,
# schema, location, hooks...) name that one model's relation or side effects, never copied.
COPIED_CONFIG = ("materialized", "incremental_strategy", "on_schema_change", "unique_key")
# A runtime path the orchestrator passes for the stream being run (Dagster's --vars).
_FILES_VAR = re.compile(r"""var\(\s*["']files?["']\s*\)""")


@dataclass(frozen=True)
class Sibling:
    """Another stream model of the same source, whose style the new model follows."""

    text: str
    stream: str
    tag: str  # its stream tag
    config: dict[str, Any]  # its rendered config() arguments


def stream_model(
    source: str,
    stream: str,
    tag: str,
    fields: dict[str, Any],
    connector: str,
    primary_key: list[str],
    sibling: Sibling | None,
) -> str:
    """The text of `int_<source>__<stream>.sql`. `fields`: name -> definition of each field the
    stream syncs (from the source schema when there is one)."""
    config = _config(tag, primary_key, sibling)
    incremental = config.get("materialized") == "incremental"
    read = _raw_read(source, stream, sibling)
    landed_at = LANDED_AT.get(connector, LANDED_AT["airbyte"])
    flatten = sibling is not None and _reads_struct_keys(sibling.text)
    columns: list[str] = []
    for name, definition in fields.items():
        columns += _struct_columns(name, definition, fields) if flatten else [_identifier(name)]
    columns += [_identifier(c) for c in METADATA_COLUMNS.get(connector, METADATA_COLUMNS["airbyte"])]
    lines = [_config_call(config, multiline=sibling is not None and _multiline_config(sibling.text)), ""]
    lines += [
        f"-- Written by `lotus-check --fix --unsafe-fixes` for stream {source}.{stream}: review it.",
        "with landed as (",
        "    select *",
        f"    from {read}",
    ]
    if incremental:
        lines += [
            "    {% if is_incremental() %}",
            f"    where {landed_at} > (select max({landed_at}) from {{{{ this }}}})",
            "    {% endif %}",
        ]
    lines += [")", "", "select"]
    lines += [f"    {c}," for c in columns[:-1]]
    lines += [f"    {columns[-1]}", "from landed", ""]
    return "\n".join(lines)


# A sibling that reads a struct's keys as columns of their own (`customer.id as customer_id`).
_STRUCT_KEY_READ = re.compile(r"\b[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\s+as\s+[a-z_]", re.IGNORECASE)


def _reads_struct_keys(text: str) -> bool:
    return _STRUCT_KEY_READ.search(text) is not None


def _struct_columns(name: str, definition: Any, fields: dict[str, Any]) -> list[str]:
    """A field as the siblings read it: an object stored as a STRUCT (its type `object`, its
    properties declared) becomes one column per key, `field.key as field_key`; anything else,
    or a key whose column name another field already has, stays the field itself."""
    properties = definition.get("properties") if isinstance(definition, dict) else None
    kind = definition.get("type") if isinstance(definition, dict) else None
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    if kinds != ["object"] or not isinstance(properties, dict) or not properties:
        return [_identifier(name)]
    aliases = [f"{name}_{key}" for key in properties]
    if any(alias in fields for alias in aliases) or not all(isinstance(k, str) for k in properties):
        return [_identifier(name)]
    return [f"{_identifier(name)}.{_identifier(key)} as {_identifier(alias)}"
            for key, alias in zip(properties, aliases)]


def _config(tag: str, primary_key: list[str], sibling: Sibling | None) -> dict[str, Any]:
    """The sibling's config() with this stream's tag and key; incremental needs a key to merge
    on, so a stream without a primary key is built as a table."""
    config: dict[str, Any] = {}
    copied = dict(sibling.config) if sibling is not None else {}
    tags = copied.pop("tags", [])
    tags = [tags] if isinstance(tags, str) else [t for t in tags if isinstance(t, str)]
    config["tags"] = [t for t in tags if sibling is None or t != sibling.tag] + [tag]
    for key, value in copied.items():  # in the sibling's order
        if key not in COPIED_CONFIG:
            continue
        if isinstance(value, (str, bool, int, float)) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            config[key] = value
    if "unique_key" in config:
        if primary_key:
            config["unique_key"] = primary_key[0] if len(primary_key) == 1 else primary_key
        elif config.get("materialized") == "incremental":
            config["materialized"] = "table"
            for key in _INCREMENTAL_KEYS:
                config.pop(key, None)
        else:
            config.pop("unique_key")
    return config


def _config_call(config: dict[str, Any], multiline: bool) -> str:
    arguments = [f"{key}={_literal(value)}" for key, value in config.items()]
    if not multiline:
        return "{{ config(" + ", ".join(arguments) + ") }}"
    body = ",\n".join("    " + a for a in arguments)
    return "{{\n  config(\n" + body + "\n  )\n}}"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _multiline_config(text: str) -> bool:
    return re.search(r"config\s*\(\s*\n", text) is not None


def raw_read_kind(sibling: Sibling) -> str:
    """"source", "files" (the orchestrator's runtime paths) or "path" (a landing path)."""
    if re.search(r"\{\{-?\s*source\s*\(", sibling.text) or "read_parquet(" not in sibling.text:
        return "source"
    return "files" if _FILES_VAR.search(sibling.text) else "path"


def _raw_read(source: str, stream: str, sibling: Sibling | None) -> str:
    """How the sibling reads its raw data, pointed at this stream."""
    own_source = f"{{{{ source('{source}', '{stream}') }}}}"
    if sibling is None:
        return own_source
    if re.search(r"\{\{-?\s*source\s*\(", sibling.text):
        return own_source
    start = sibling.text.find("read_parquet(")
    if start < 0:
        return own_source
    end = matching_close(sibling.text, start + len("read_parquet"))
    if end is None:
        return own_source
    call = sibling.text[start:end + 1]
    if _FILES_VAR.search(call):  # the orchestrator passes this stream's files at run time
        return call
    # The landing path's stream segment: `.../<source>/<stream>/...` or `.../<source>/<stream>*`.
    segment = re.compile(rf"(/{re.escape(source)}/){re.escape(sibling.stream)}(?=[/*.0-9'\"])")
    renamed, count = segment.subn(lambda m: m.group(1) + stream, call)
    return renamed if count == 1 else own_source


def _identifier(name: str) -> str:
    """A column name as DuckDB reads it: quoted unless plain lower-case and not a keyword."""
    if _PLAIN_IDENTIFIER.fullmatch(name) and name not in NOT_BARE:
        return name
    return '"' + name.replace('"', '""') + '"'
