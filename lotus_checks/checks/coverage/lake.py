"""The whole-repo facts the coverage checks (LL3xx) share: streams, stream tags, the Dagster
code's selections, each model's tags and source() calls, the dbt sources files."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from collections.abc import Iterator

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule
from lotus_checks.lake.dagster_code import DYNAMIC
from lotus_checks.lake.dagster_code import DagsterCode
from lotus_checks.lake.dagster_code import read_dagster_code
from lotus_checks.lake.dagster_code import selectors
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Stream
from lotus_checks.sql.facts import CoverageView
from lotus_checks.sql.facts import UNKNOWN_COVERAGE

# The per-stream model is `int_<source>__<stream>`; marts (fct_/dim_) have no stream.
STREAM_MODEL_PREFIX = "int_"
MART_PREFIXES = ("fct_", "dim_")

# (path, line, column) a finding may be placed at.
Place = tuple[str, "int | None", "int | None"]


@dataclass(frozen=True, slots=True)
class DbtTable:
    source: str
    name: str
    identifier: str | None
    path: str
    line: int | None
    column: int | None


@dataclass(frozen=True, slots=True)
class DbtSource:
    name: str
    path: str
    tables_line: int | None
    tables_column: int | None
    tables: tuple[DbtTable, ...]


class Lake:
    """The whole-repo facts the LL3xx checks share, computed once per run, on first use."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.config = ctx.config
        self.repo = ctx.repo
        self._views: dict[str, CoverageView] = {}

    def place(self, rule: Rule, places: list[Place], message: str, hint: str) -> Finding:
        """The finding at the first place in the run's scope (else at the first place)."""
        chosen = next((p for p in places if self.ctx.in_scope(p[0])), places[0])
        return rule.finding(chosen[0], chosen[1], chosen[2], message, hint=hint)

    # -- streams

    @cached_property
    def stream_names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for stream in self.repo.streams:
            out.setdefault(stream.source, []).append(stream.name)
        return out

    def is_stream(self, source: str, name: str) -> bool:
        return self.repo.stream(source, name) is not None

    def stream_data(self, stream: Stream) -> dict[str, Any]:
        doc = self.repo.json(stream.config_path)
        return doc.data if doc is not None and isinstance(doc.data, dict) else {}

    def synced(self, stream: Stream) -> bool:
        return self.stream_data(stream).get("selected") is not False

    def is_dlt(self, stream: Stream) -> bool:
        return self.stream_data(stream).get("connector") == "dlt"

    def stream_place(self, stream: Stream) -> Place:
        doc = self.repo.json(stream.config_path)
        if doc is None:
            return (stream.config_path, None, None)
        line, column = doc.position(("stream",))
        return (stream.config_path, line, column)

    # -- tags

    def stream_tag(self, source: str, stream: str) -> str:
        return self.config.stream_tag.replace("{source}", source).replace("{stream}", stream)

    @cached_property
    def _tag_patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        """(source, regex matching that source's stream tags, group `stream`)."""
        pattern = self.config.stream_tag
        if "{stream}" not in pattern or "{source}" not in pattern:
            return []  # tags cannot be told apart from other tags ('core', 'marts')
        out = []
        for source in self.repo.sources:
            parts = [re.escape(p) for p in pattern.replace("{source}", source).split("{stream}")]
            out.append((source, re.compile("(?P<stream>[A-Za-z0-9_]+)".join(parts))))
        return out

    def tag_stream(self, tag: str) -> tuple[str, str] | None:
        """(source, stream) a tag has the shape of, for a known source; None for other tags."""
        for source, regex in self._tag_patterns:
            match = regex.fullmatch(tag)
            if match:
                return source, match.group("stream")
        return None

    def names_real_stream(self, tag: str) -> bool:
        named = self.tag_stream(tag)
        return named is not None and self.is_stream(*named)

    @cached_property
    def dagster_code(self) -> DagsterCode:
        """What the Python files of the dbt project that import Dagster say about how it runs dbt."""
        texts = (self.repo.text_if_readable(path) for path in self.repo.project_python_files)
        return read_dagster_code(t for t in texts if t)

    @cached_property
    def dagster_selects_by_stream_tag(self) -> bool | None:
        """Whether the Dagster code selects dbt models by per-stream tags: True when some
        selection is a `tag:` of the stream-tag shape (built from source and stream at run time,
        `select=f"tag:{source}__{stream}"`, or a fixed tag naming a stream); False when the
        Dagster code is found and every selection is something else it can read (a fixed tag
        such as `tag:core`, model names); None when there is no Dagster code or a selection is
        passed in from elsewhere (then the models' own tags decide)."""
        code = self.dagster_code
        if not code.found:
            return None
        texts = [*code.selections, *code.strings]
        if any(self._selects_stream_tag(s) for t in texts for s in selectors(t)):
            return True
        if not code.selections:
            return None
        for selection in code.selections:
            for selector in selectors(selection):
                if selector == DYNAMIC or (selector.startswith("tag:") and DYNAMIC in selector):
                    return None  # a selection handed in from elsewhere: cannot tell
        return False

    def selects(self, selection: str, tags: tuple[str, ...]) -> bool:
        """Whether a dbt selection may select a model with `tags`: a fixed `tag:` by the tag, a
        stream-tag selection by a tag naming a stream; anything else (names, paths, what is
        known only at run time) is taken to select it."""
        for selector in selectors(selection):
            if not selector.startswith("tag:") or (
                    DYNAMIC in selector and not self._selects_stream_tag(selector)):
                return True
            if DYNAMIC not in selector and selector[len("tag:"):] in tags:
                return True
            if DYNAMIC in selector and any(self.names_real_stream(t) for t in tags):
                return True
        return False

    def _selects_stream_tag(self, selector: str) -> bool:
        if not selector.startswith("tag:"):
            return False
        value = selector[len("tag:"):]
        if DYNAMIC not in value:
            return self.names_real_stream(value)
        pattern = self.config.stream_tag
        if "{source}" not in pattern or "{stream}" not in pattern:
            return False
        regex = re.escape(pattern).replace(r"\{source\}", "(?P<source>.*?)")
        regex = regex.replace(r"\{stream\}", "(?P<stream>.*)")
        match = re.fullmatch(regex, value, re.DOTALL)
        return match is not None and DYNAMIC in match.group("stream")

    @cached_property
    def sources_with_stream_tags(self) -> frozenset[str]:
        """Sources some model carries a stream tag of."""
        found = set()
        for model in self.repo.models:
            for tag in self.model_view(model).tags or ():
                named = self.tag_stream(tag)
                if named is not None and self.is_stream(*named):
                    found.add(named[0])
        return frozenset(found)

    def stream_tags_in_use(self, source: str) -> bool:
        """Whether per-stream tags are how Dagster runs the models of `source` (LL303, LL306):
        the Dagster code decides where it can be read (it selects by stream tag, or only by other
        means); else the models do: some model carries a tag of one of the source's streams."""
        decided = self.dagster_selects_by_stream_tag
        if decided is not None:
            return decided
        return source in self.sources_with_stream_tags

    # -- models

    def model_view(self, model: Model) -> CoverageView:
        """The model's tags (with those dbt_project.yml and properties files give it) and
        source() calls; tags None when the template cannot be rendered."""
        if model.path not in self._views:
            view = self._rendered_view(model)
            if view.tags is not None:
                view = CoverageView(view.tags + self._configured_tags(model), view.sources)
            self._views[model.path] = view
        return self._views[model.path]

    def _rendered_view(self, model: Model) -> CoverageView:
        """Tags and source() calls of the plain rendering, shared with the columns family's
        facts (the repo model's): cached by content, never rendered twice in a run. A model
        the run checks gets its full facts (the columns family reads them too); another only
        its plain rendering."""
        view = self.ctx.repo.model_coverage(model, full=self.ctx.in_scope(model.path))
        view = view if view is not None else UNKNOWN_COVERAGE
        # A template that broke before its end: the source() calls it made are not all of them.
        return view if view.tags is not None else UNKNOWN_COVERAGE

    def _configured_tags(self, model: Model) -> tuple[str, ...]:
        """Tags dbt adds from dbt_project.yml `models:` and YAML properties files."""
        from lotus_checks.core.dbt_project import project_tags

        tags = self._property_tags.get(model.name, ())
        if self.dbt_project is not None:
            data, folders = self.dbt_project
            tags += project_tags(data, model.path, folders)
        return tags

    @cached_property
    def dbt_project(self) -> tuple[Any, tuple[str, ...]] | None:
        """(data, model folders) of dbt_project.yml; None when it is missing or unusable."""
        from lotus_checks.core.dbt_project import model_paths

        project = self.config.dbt_project
        if not self.repo.is_file(project):
            return None
        doc = self.repo.yaml(project)
        paths = model_paths(project, doc.data) if doc is not None else None
        return (doc.data, paths.folders) if doc is not None and paths is not None else None

    @cached_property
    def _property_tags(self) -> dict[str, tuple[str, ...]]:
        from lotus_checks.core.dbt_project import property_tags

        out: dict[str, tuple[str, ...]] = {}
        for path in self.repo.model_yaml_files:
            doc = self.repo.yaml(path)
            for name, tags in property_tags(doc.data if doc is not None else None).items():
                out[name] = out.get(name, ()) + tags
        return out

    @cached_property
    def models_by_name(self) -> dict[str, list[Model]]:
        out: dict[str, list[Model]] = {}
        for model in self.repo.models:
            out.setdefault(model.name, []).append(model)
        return out

    def stream_model_name(self, source: str, stream: str) -> str:
        return f"{STREAM_MODEL_PREFIX}{source}__{stream}"

    def other_layer_models(self, stream: Stream) -> list[Model]:
        """The stream's models in a repo whose per-stream layer is not `int_` (`stg_shopify__
        orders`): any per-source layer of the `layers` setting names a stream's model."""
        out = []
        for layer in self.config.layers:
            if f"{layer}_" != STREAM_MODEL_PREFIX and f"{layer}_" not in MART_PREFIXES:
                out += self.models_by_name.get(f"{layer}_{stream.source}__{stream.name}", [])
        return out

    def source_folder(self, source: str) -> str:
        """Where a source's models live: beside its existing models, else in the first model
        folder that has a folder for it, else in the first model folder."""
        for model in self.repo.models:
            if model.source == source:
                return f"{model.models_folder}/{source}"
        for folder in self.config.models:
            if os.path.isdir(self.config.root / folder / source):  # False if unreadable
                return f"{folder}/{source}"
        return f"{self.config.models[0]}/{source}"

    # -- dbt sources

    @cached_property
    def dbt_sources(self) -> dict[str, list[DbtSource]]:
        out: dict[str, list[DbtSource]] = {}
        for path in self.repo.model_yaml_files:
            for declared in _declared_sources(self, path):
                out.setdefault(declared.name, []).append(declared)
        return out

    @cached_property
    def dbt_source_names(self) -> dict[str, str]:
        """Lotus source -> the dbt source its models read its streams through: the one dbt
        source the models in its folder call `source()` with (`stripe_raw` in a repo declaring
        its sources so), else the one declared in a YAML file in its folder; else its own name."""
        out = {}
        lotus = set(self.repo.sources)
        for source in self.repo.stream_sources:
            folder = self.source_folder(source) + "/"
            called = {name for m in self.repo.models if m.path.startswith(folder)
                      for name, _ in self.model_view(m).sources if name == source or name not in lotus}
            declared_here = {name for name, found in self.dbt_sources.items()
                             if name not in lotus and any(d.path.startswith(folder) for d in found)}
            if source in called or source in self.dbt_sources:
                out[source] = source
            elif len(called) == 1 or (not called and len(declared_here) == 1):
                out[source] = next(iter(called or declared_here))
            else:
                out[source] = source
        return out

    def dbt_source_name(self, source: str) -> str:
        return self.dbt_source_names.get(source, source)

    @cached_property
    def source_calls(self) -> set[str]:
        """Sources some model reads through `source()`."""
        return {src for model in self.repo.models for src, _ in self.model_view(model).sources}


def _declared_sources(lake: Lake, path: str) -> Iterator[DbtSource]:
    doc = lake.repo.yaml(path)
    if doc is None or not isinstance(doc.data, dict):
        return
    sources = doc.data.get("sources")
    if not isinstance(sources, list):
        return
    for i, entry in enumerate(sources):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        name = entry["name"]
        tables: list[Any] = entry["tables"] if isinstance(entry.get("tables"), list) else []
        found = []
        for j, table in enumerate(tables):
            if isinstance(table, dict) and isinstance(table.get("name"), str):
                line, column = doc.position(("sources", i, "tables", j, "name"))
                identifier = table.get("identifier")
                found.append(
                    DbtTable(
                        source=name,
                        name=table["name"],
                        identifier=identifier if isinstance(identifier, str) else None,
                        path=path,
                        line=line,
                        column=column,
                    )
                )
        key = ("sources", i, "tables") if "tables" in entry else ("sources", i, "name")
        line, column = doc.position(key)
        yield DbtSource(name, path, line, column, tuple(found))


def did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""
