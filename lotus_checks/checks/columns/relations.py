"""What each relation a model reads offers, as far as the repo tells: a stream's columns (its
stream config, source schema and the loader's metadata columns), a model's output columns, the
tables the sources files declare. Facts are loaded once per model (sql/facts.py)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from lotus_checks.checks.coverage.conventions import Conventions
from lotus_checks.core.context import CheckContext
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Stream
from lotus_checks.sql.facts import ModelFacts
from lotus_checks.sql.facts import Relation
from lotus_checks.sql.raw_paths import is_runtime_value
from lotus_checks.sql.raw_paths import path_read

# (path, line, column) of a finding.
Place = tuple[str, "int | None", "int | None"]

AIRBYTE_COLUMNS = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id")
# What Airbyte writes as `_airbyte_meta`: a STRUCT of the sync id and the per-record changes.
AIRBYTE_META_FIELD = {"type": "object", "properties": {"sync_id": {"type": "integer"},
                                                       "changes": {"type": "array"}}}
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
HIVE_COLUMNS = ("year", "month", "day")
_TRUE_OPTION = r"\s*(?:=|:=)\s*(?:true|1)\b"


@dataclass
class RelationView:
    """What a relation a model reads offers, as far as the repo tells (columns None: unknown)."""

    kind: str  # "raw" | "model" | "unknown"
    label: str
    columns: dict[str, str] | None = None  # lower name -> name
    stream: Stream | None = None
    offered: dict[str, str] | None = None  # raw: what the source schema offers
    fields: dict[str, Any] | None = None  # raw: field definitions (source schema first)
    dlt: bool = False
    hive: bool = False
    filename: str | None = None
    via: str = "read_parquet(...)"  # how the hint names where options go


@dataclass(frozen=True)
class DeclaredTable:
    path: str
    hive: bool
    filename: str | None


class Schemas:
    """What the relations of every model offer, for one run of the family: facts loaded once
    per model, schemas read once."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.repo = ctx.repo
        self.models = {m.name: m for m in ctx.repo.models}
        self._facts: dict[str, ModelFacts | None] = {}
        self._outputs: dict[str, dict[str, str] | None] = {}
        self._streams: dict[tuple[str, str], tuple[dict, dict | None, bool] | None] = {}
        self._declared: dict[tuple[str, str], DeclaredTable] | None = None
        self._raw_views: dict[tuple, RelationView] = {}
        self._tag_streams = {
            ctx.config.stream_tag.format(source=s.source, stream=s.name): s
            for s in ctx.repo.streams
        }

    @functools.cached_property
    def conventions(self) -> Conventions:
        """How the repo runs its models (the coverage family): whether per stream (only then is a
        runtime read in a model whose stream cannot be told given no stream's files), and
        with which vars."""
        return Conventions(self.ctx)

    # ---- facts -----------------------------------------------------------------------------

    def facts(self, model: Model) -> ModelFacts | None:
        if model.path in self._facts:
            return self._facts[model.path]
        self._facts[model.path] = None  # a ref cycle sees "unknown"
        facts = self.repo.model_facts(model)  # computed once per run, cached by content
        self._facts[model.path] = facts
        return facts

    def forget(self, model: Model) -> None:
        """Drop a checked model's facts: holding all of them would make memory grow with the
        repo (the memory figure in bench/README.md). Its
        outputs stay memoised for the models that ref it; the facts come back from the cache."""
        self._facts.pop(model.path, None)

    # ---- relations -------------------------------------------------------------------------

    def relation(self, model: Model, own: Stream | None, entry: Relation) -> RelationView:
        kind, args = entry.kind, entry.args
        if kind == "source" and len(args) >= 2:
            declared = self.declared().get((args[0], args[1]))
            stream = self.repo.stream(args[0], args[1])
            if declared is None or stream is None:
                return RelationView("unknown", f"source('{args[0]}', '{args[1]}')")
            return self.raw(stream, declared.hive, declared.filename,
                            f"the external_location of source `{args[0]}` in {declared.path}")
        if kind == "file":
            streams = set()
            if entry.files:
                streams.add(own)
            for path in entry.paths:
                streams.add(self.path_target(path, own))
            stream = next(iter(streams)) if len(streams) == 1 else None
            if stream is None:
                return RelationView("unknown", "read_parquet(...)")
            if own is not None and stream != own:
                # LL406 reports the wrong path; its columns are judged once it reads the right one.
                return RelationView("unknown", "read_parquet(...)")
            return self.raw(stream, entry.hive, entry.filename, "that read_parquet(...)")
        if kind == "ref" and args:
            upstream = self.models.get(args[-1])
            columns = self.outputs(upstream) if upstream is not None else None
            return RelationView("model" if columns is not None else "unknown", f"model `{args[-1]}`", columns)
        if kind == "this":
            columns = self.outputs(model)
            if columns is not None and "rowid" not in columns:
                # `{{ this }}` is a table: DuckDB gives every table a `rowid` pseudo-column.
                columns = {**columns, "rowid": "rowid"}
            return RelationView("model" if columns is not None else "unknown", f"model `{model.name}` ({{{{ this }}}})", columns)
        return RelationView("unknown", entry.args[0] if entry.args else "?")

    def raw(self, stream: Stream, hive: bool, filename: str | None, via: str) -> RelationView:
        key = (stream.source, stream.name, hive, filename, via)
        if key not in self._raw_views:
            self._raw_views[key] = self._raw(stream, hive, filename, via)
        return self._raw_views[key]

    def _raw(self, stream: Stream, hive: bool, filename: str | None, via: str) -> RelationView:
        loaded = self.stream_fields(stream)
        if loaded is None:
            return RelationView("unknown", f"stream {stream.source}.{stream.name}")
        selected, offered, dlt = loaded
        columns = {str(k).lower(): str(k) for k in selected}
        for meta in DLT_COLUMNS if dlt else AIRBYTE_COLUMNS:
            columns[meta] = meta
        if hive:
            columns.update({c: c for c in HIVE_COLUMNS})
        if filename:
            columns[filename.lower()] = filename
        fields = offered if offered is not None else selected
        definitions = {str(k).lower(): v for k, v in fields.items()}
        if not dlt:
            definitions.setdefault("_airbyte_meta", AIRBYTE_META_FIELD)
        return RelationView(
            "raw", f"stream {stream.source}.{stream.name}", columns, stream,
            {str(k).lower(): str(k) for k in offered} if offered is not None else None,
            definitions, dlt, hive, filename, via,
        )

    def stream_fields(self, stream: Stream) -> tuple[dict, dict | None, bool] | None:
        """(selected fields, source schema fields or None, is dlt) of a stream; None if unreadable."""
        key = (stream.source, stream.name)
        if key not in self._streams:
            doc = self.repo.json(stream.config_path)
            data = doc.data if doc is not None else None
            fields = data.get("fields") if isinstance(data, dict) else None
            if not isinstance(data, dict) or not isinstance(fields, dict):
                self._streams[key] = None
            else:
                offered = None
                if stream.schema_path is not None:
                    schema = self.repo.json(stream.schema_path)
                    schema_fields = schema.data.get("fields") if schema is not None and isinstance(schema.data, dict) else None
                    offered = schema_fields if isinstance(schema_fields, dict) else None
                self._streams[key] = (fields, offered, data.get("connector") == "dlt")
        return self._streams[key]

    def outputs(self, model: Model) -> dict[str, str] | None:
        """A model's output columns with `select *` expanded; None when they cannot be known."""
        if model.path in self._outputs:
            return self._outputs[model.path]
        self._outputs[model.path] = None  # cycles (ref loops, `select * from this`) are unknown
        result = self._compute_outputs(model)
        self._outputs[model.path] = result
        return result

    def _compute_outputs(self, model: Model) -> dict[str, str] | None:
        facts = self.facts(model)
        if facts is None:
            return None
        rendering = next((r for r in facts.renderings if r is not None and r.outputs is not None),
                         None)
        outputs = rendering.outputs if rendering is not None else None
        if rendering is None or outputs is None or outputs.opaque:
            return None
        own = self.own_stream(model, facts)
        columns = {name.lower(): name for name in outputs.names}
        for star in outputs.stars:
            entry = rendering.relations.get(star.rel)
            view = self.relation(model, own, entry) if entry is not None else None
            if view is None or view.columns is None:
                return None
            skip = {e.lower() for e in star.exclude}
            for key, name in view.columns.items():
                if key not in skip:
                    columns.setdefault(key, name)
        return columns

    # ---- the repo's view of streams --------------------------------------------------------

    def own_stream(self, model: Model, facts: ModelFacts) -> Stream | None:
        """The stream a model is for: its per-stream tag, else its name `<layer>_<src>__<stream>`."""
        for tag in facts.tags:
            if tag in self._tag_streams:
                return self._tag_streams[tag]
        for layer in self.ctx.config.layers:
            prefix = f"{layer}_"
            if model.name.startswith(prefix) and "__" in model.name[len(prefix):]:
                source, name = model.name[len(prefix):].split("__", 1)
                return self.repo.stream(source, name)
        return None

    def path_target(self, path: str, own: Stream | None) -> Stream | None:
        """The one stream a raw path reads (a runtime path: the model's own); None when it
        reads none, several, or what cannot be told."""
        read = path_read(path, self.ctx.config.raw_path, self.stream_keys)
        if read.kind == "stream" and read.named is not None:
            return self.repo.stream(*read.named)
        if read.kind == "glob" and len(read.streams) == 1:
            return self.repo.stream(*read.streams[0])
        if read.kind == "runtime" and is_runtime_value(path):
            return own
        return None

    @functools.cached_property
    def stream_keys(self) -> list[tuple[str, str]]:
        return [(s.source, s.name) for s in self.repo.streams]

    def declared(self) -> dict[tuple[str, str], DeclaredTable]:
        """(source, table) -> where it is declared, from every sources file in the model folders."""
        if self._declared is None:
            self._declared = {}
            for path in self.repo.model_yaml_files:
                doc = self.repo.yaml(path)
                data = doc.data if doc is not None else None
                if isinstance(data, dict):
                    self._declared.update(_declared_tables(path, data))
        return self._declared


def _declared_tables(path: str, data: dict[str, Any]) -> dict[tuple[str, str], DeclaredTable]:
    out = {}
    sources = data.get("sources")
    for source in sources if isinstance(sources, list) else ():
        if not isinstance(source, dict) or not isinstance(source.get("name"), str):
            continue
        location = _external_location(source)
        tables = source.get("tables")
        for table in tables if isinstance(tables, list) else ():
            if isinstance(table, dict) and isinstance(table.get("name"), str):
                own = _external_location(table) or location
                hive = bool(re.search("hive_partitioning" + _TRUE_OPTION, own, re.I))
                filename = "filename" if re.search("filename" + _TRUE_OPTION, own, re.I) else None
                out[(source["name"], table["name"])] = DeclaredTable(path, hive, filename)
    return out


def _external_location(node: dict[str, Any]) -> str:
    """dbt-duckdb's `external_location`, under `meta` or `config.meta` (or `external.location`)."""
    candidates = []
    for holder in (node.get("meta"), (node.get("config") or {}).get("meta") if isinstance(node.get("config"), dict) else None):
        if isinstance(holder, dict):
            candidates.append(holder.get("external_location"))
    external = node.get("external")
    if isinstance(external, dict):
        candidates.append(external.get("location"))
    return next((c for c in candidates if isinstance(c, str)), "")
