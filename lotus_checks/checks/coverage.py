"""LL3xx: every stream reaches a dbt source table, a model, the model's Dagster tag, dbt's
model-paths and a Terraform connection; and nothing in those places names a stream that is gone.

These gaps fail silently in production: data lands and nothing is built. The checks are
cross-file, so each finding is placed on the file that is in the run's scope when it can be: a
pre-commit run that only passes the renamed model still reports the stream it left behind.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from dataclasses import dataclass
from dataclasses import replace
from functools import cached_property
from typing import Any
from typing import Callable
from typing import Iterator
from typing import NamedTuple

from lotus_checks import dbt_crosscheck
from lotus_checks.context import CheckContext
from lotus_checks.dagster_code import DYNAMIC
from lotus_checks.dagster_code import DagsterCode
from lotus_checks.dagster_code import read_dagster_code
from lotus_checks.dagster_code import selectors
from lotus_checks.finding import Finding
from lotus_checks.finding import Severity
from lotus_checks.repo import CATALOG_NAME
from lotus_checks.repo import Model
from lotus_checks.repo import Stream
from lotus_checks.rules import Rule
from lotus_checks.dbt_crosscheck import LL308

# The per-stream model is `int_<source>__<stream>`; marts (fct_/dim_) have no stream.
STREAM_MODEL_PREFIX = "int_"
MART_PREFIXES = ("fct_", "dim_")

LL301 = Rule(
    "LL301",
    "stream-missing-dbt-source-table",
    "Stream has no table in its source's dbt sources file",
    fixable=True,
    explanation="""A synced stream is not declared as a table of its dbt source, so
`{{ source('<source>', '<stream>') }}` fails to compile and the raw data cannot be read through
`source()`.

The rule applies to a source once it is read through `source()`: some model calls
`source('<source>', ...)`, a sources file `_<source>__sources.yml` (key `sources-file`) exists in
its model folder, or a YAML file in a model folder declares the dbt source. The dbt source
judged is the one the models in the source's folder read through `source()` (a repo may declare
`stripe_raw` for the `stripe` streams), else the one declared in that folder. Sources whose models
only use `read_parquet(...)` are left alone, and so is a stream whose own models read it by path
(`read_parquet`, or the paths the orchestrator passes): no `source()` call needs its table. Streams with `"selected": false` are not synced and
are skipped. Turn the rule off with `ignore = ["LL301"]` if your sources are declared elsewhere.

Fires on (stream config `streams/shopify/order_refunds.json` exists):
```yaml
sources:
  - name: shopify
    tables:
      - name: orders
```
Fixed:
```yaml
sources:
  - name: shopify
    tables:
      - name: orders
      - name: order_refunds
```
`--fix` adds the table at the end of the source's `tables:` (keeping the file's comments and
layout), or writes `_<source>__sources.yml` when the source has no sources file, with the
source-level settings of another source's declaration (schema, external location).""",
)
LL302 = Rule(
    "LL302",
    "stream-without-model",
    "Stream has no model",
    fixable=True,
    unsafe_fix=True,
    explanation="""Every stream needs its model `int_<source>__<stream>.sql` in the source's
model folder (a repo whose stream models use another per-source layer of `layers`, e.g.
`stg_<source>__<stream>`, is read that way). Without it the stream syncs every day and nothing
is built from it: an error. This happens when a model is renamed away from its stream
(`int_shopify__order_refunds.sql` -> `int_shopify__refunds.sql`).

The rule applies once the repo names stream models this way (some stream has its model by
that name); a repo with its own model naming gets nothing from it.

When another model still carries the stream's tag (the renamed model, or a fan-out), Dagster
runs it when the stream lands, so nothing is lost: the finding is then a warning that the
stream's own model is missing or misnamed. Fan-out models (`int_shopify__order_lines`, tagged
`shopify__orders`) are welcome, but do not replace the stream's own model. Streams with
`"selected": false` are not synced and are skipped.

Fires on: `streams/shopify/order_refunds.json` with no `core/shopify/int_shopify__order_refunds.sql`.

Fix: create `core/shopify/int_shopify__order_refunds.sql` (or rename the model back), tagged
`shopify__order_refunds`.

`--fix --unsafe-fixes` writes that model as a starting point to review: the `config()` and the
way of reading raw data (`source()`, a `read_parquet` path, or `var("files")`) of the source's
other stream models, the stream tag, and a `select` of every field the stream syncs plus the
connector's metadata columns. Unsafe because what the model should compute is a person's call.""",
)
LL303 = Rule(
    "LL303",
    "stream-model-missing-tag",
    "Stream's model lacks the stream tag Dagster selects it by",
    fixable=True,
    explanation="""The Dagster asset factory selects the models of a stream by the tag
`<source>__<stream>` (config key `stream-tag`, default `{source}__{stream}`). A model without it
is never run when its stream lands.

Tags are read from the model's `{{ config(tags=[...]) }}` (and from `dbt_project.yml` and YAML
properties files).

The rule applies only where Dagster runs models by per-stream tags. The Dagster code (Python
files importing Dagster in the dbt project's folder, read with Python's parser: comments and
docstrings do not count) decides: a dbt selection built from source and stream
(`select=f"tag:{source}__{stream}"`, `--select` followed by such a value) turns the rule on;
Dagster code whose selections are all fixed (`select="tag:core"`) or name models turns it off,
whatever tags some models already carry. Where there is no Dagster code to read, the rule
applies to a source once one of its models carries one of its stream tags. Before the
convention, a repo's models tag only `['core']` and its Dagster assets select them by that
broad tag: nothing is lost, and the rule says nothing. Once it is in use, a stream model
without its tag is never run, which is what this error reports.

Fires on `core/shopify/int_shopify__orders.sql`:
```sql
{{ config(tags=['core'], materialized='table') }}
```
Fixed:
```sql
{{ config(tags=['core', 'shopify__orders'], materialized='table') }}
```
`--fix` adds the tag to the first `config()` call (appending to `tags=[...]`, adding `tags=`, or
adding a `config()` call at the top), changing nothing else in the file. Tags that are not a
literal list or string (a variable) are left to a person.""",
)
LL304 = Rule(
    "LL304",
    "model-folder-not-in-model-paths",
    "Model folder is not in dbt_project.yml model-paths",
    fixable=True,
    explanation="""dbt only reads models under the folders listed in `model-paths` of
`dbt_project.yml` (relative to that file, scanned recursively). Models in any other folder are
never built, and `dbt parse` in CI cannot notice: it never sees them. This happened when a new
source folder was added without listing it.

Fires on (`assets/core/stripe/` holds models):
```yaml
model-paths:
  - assets/core/shopify
  - assets/marts
```
Fixed:
```yaml
model-paths:
  - assets/core/shopify
  - assets/core/stripe
  - assets/marts
```
One finding per uncovered folder, at the `model-paths` key. `--fix` appends the folder to
`model-paths` in the style the list is written in (block or flow, same quoting).""",
)
LL305 = Rule(
    "LL305",
    "dbt-source-table-without-stream",
    "dbt source table has no stream config",
    severity=Severity.WARNING,
    explanation="""A table of a Lotus source in a dbt sources file has no stream config
(`streams/<source>/<table>.json`), so nothing lands in it: a leftover of a removed or renamed
stream, or a typo. Tables of dbt sources that are not Lotus sources are not checked.

Fires on (there is no stream `refunds`, but there is `order_refunds`):
```yaml
sources:
  - name: shopify
    tables:
      - name: refunds
```
Fixed: `- name: order_refunds` (the finding suggests the nearest stream name), or remove the
table.""",
)
LL306 = Rule(
    "LL306",
    "model-or-tag-without-stream",
    "Model or stream tag names no stream",
    severity=Severity.WARNING,
    explanation="""An `int_<source>__<entity>` model whose entity is not a stream and none of
whose tags names a stream, or a tag shaped like a stream tag (`<source>__<name>` for a known
source) that names no stream. Dagster never selects such a model; usually a stream was renamed
and the model or tag was not.

A model whose entity is not a stream is fine when one of its tags names a real stream: that is
a fan-out, e.g. `int_shopify__order_lines.sql` tagged `shopify__orders`. Marts (`fct_`/`dim_`)
are not checked. The model part applies only where the repo uses per-stream tags (see LL303):
before that, Dagster selects models by a broad tag and a fan-out cannot carry a stream tag.

Fires on `core/shopify/int_shopify__order_lines.sql`:
```sql
{{ config(tags=['core', 'shopify__order']) }}
```
Fixed (the finding suggests the nearest stream):
```sql
{{ config(tags=['core', 'shopify__orders']) }}
```""",
)
LL307 = Rule(
    "LL307",
    "terraform-coverage",
    "Airbyte source has no connection reading its catalog, or a Terraform file path is missing",
    explanation="""Two ways Terraform silently stops syncing what the repo says:

- an Airbyte source with stream configs has no `airbyte_connection` whose `sync_catalog` reads
  its `_catalog.json` (`jsondecode(file("${path.module}/.../<source>/_catalog.json"))`), so its
  streams are never synced. dlt sources (every stream `"connector": "dlt"`) have no connection and
  are skipped. When a connection's catalog path cannot be worked out statically (a variable, a
  local), this part is skipped rather than guessed.
- a `file(...)`, `templatefile(...)` or `fileset(...)` path built from `${path.module}` does not
  exist. A folder move breaks these, and the plan fails only after the push.

Fires on (the streams folder moved from `assets/streams` to `dag/streams`):
```hcl
sync_catalog = jsondecode(file("${path.module}/../../assets/streams/shopify/_catalog.json"))
```
Fixed:
```hcl
sync_catalog = jsondecode(file("${path.module}/../../dag/streams/shopify/_catalog.json"))
```""",
)

# LL308 (dbt's own parse disagrees with the static view) runs only with --dbt.
RULES = (LL301, LL302, LL303, LL304, LL305, LL306, LL307, LL308)

# (path, line, column) a finding may be placed at.
Place = tuple[str, "int | None", "int | None"]


def check(ctx: CheckContext) -> Iterator[Finding]:
    lake = _Lake(ctx)
    if ctx.enabled("LL301") or ctx.enabled("LL305"):
        yield from _dbt_sources(lake)
    # Before the model checks: on a cold run they wait for the facts pool, and parsing the
    # Terraform meanwhile takes it off the end of the run (findings are sorted later).
    if (ctx.enabled("LL307") or ctx.enabled("LL007")) and _terraform_in_scope(ctx):
        yield from _terraform(lake)
    if ctx.enabled("LL302") or ctx.enabled("LL303"):
        yield from _stream_models(lake)
    if ctx.enabled("LL306"):
        yield from _orphan_models(lake)
    if ctx.enabled("LL304"):
        yield from _model_paths(lake)
    if ctx.use_dbt:
        yield from dbt_crosscheck.check(ctx)


class Conventions:
    """How the repo runs its models, as the coverage checks see it, for another family (make
    one per run of that family: what it reads is then tracked for that family)."""

    def __init__(self, ctx: CheckContext):
        self._lake = _Lake(ctx)
        self._config = ctx.config

    @cached_property
    def models_run_per_stream(self) -> bool:
        """Whether Dagster runs each stream's models on its own (so a model whose stream cannot
        be told is given no stream's files): its code selects by stream tag, or, where the code
        does not say, the repo's models follow the stream tag or the `<layer>_<source>__<stream>`
        naming."""
        lake = self._lake
        decided = lake.dagster_selects_by_stream_tag
        if decided is not None:
            return decided
        return bool(lake.sources_with_stream_tags) or _names_stream_models(_stream_model_gaps(lake))

    def passed_vars(self, model: Model) -> frozenset[str] | None:
        """The var() names the orchestrator passes at run time (`dbt build --vars`) when it runs
        `model`: config key `runtime-vars`, else what the Dagster code passes in the dbt
        commands that select the model (all it passes when no command can be told to select
        it); None when that cannot be told (no Dagster code, or vars it cannot read)."""
        if self._config.runtime_vars is not None:
            return frozenset(self._config.runtime_vars)
        code = self._lake.dagster_code
        if not code.found or code.passed_vars is None or not (code.selections or code.runs):
            return None  # no Dagster code that runs dbt: it runs elsewhere
        tags = self._lake.facts(model).tags
        if tags is None:
            return code.passed_vars
        runs = [names for selection, names in code.runs if self._lake.selects(selection, tags)]
        if not runs:
            return code.passed_vars
        if any(names is None for names in runs):
            return None
        return frozenset().union(*(names for names in runs if names is not None))


# ---- what the checks share ----------------------------------------------------------------


@dataclass(frozen=True)
class _ModelFacts:
    tags: tuple[str, ...] | None  # None: the template could not be rendered, tags unknown
    sources: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class _DbtTable:
    source: str
    name: str
    identifier: str | None
    path: str
    line: int | None
    column: int | None


@dataclass(frozen=True)
class _DbtSource:
    name: str
    path: str
    tables_line: int | None
    tables_column: int | None
    tables: tuple[_DbtTable, ...]


class _Lake:
    """The whole-repo facts the LL3xx checks share, computed once per run, on first use."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.config = ctx.config
        self.repo = ctx.repo
        self._facts: dict[str, _ModelFacts] = {}

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
            for tag in self.facts(model).tags or ():
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

    def facts(self, model: Model) -> _ModelFacts:
        if model.path not in self._facts:
            facts = self._rendered_facts(model)
            if facts.tags is not None:
                facts = _ModelFacts(facts.tags + self._configured_tags(model), facts.sources)
            self._facts[model.path] = facts
        return self._facts[model.path]

    def _rendered_facts(self, model: Model) -> _ModelFacts:
        """Tags and source() calls of the plain rendering, shared with the columns family's
        facts (the repo model's): cached by content, never rendered twice in a run."""
        view = self.ctx.repo.model_coverage(model, full=self._columns_wants(model))
        if view is None or view["tags"] is None:
            return _ModelFacts(tags=None, sources=frozenset())
        return _ModelFacts(
            tags=_tags(view["tags"]), sources=frozenset((str(s), str(t)) for s, t in view["sources"])
        )

    def _columns_wants(self, model: Model) -> bool:
        """Whether the columns family checks this model in this run (it then needs its full
        facts, so computing them here costs nothing extra)."""
        return self.ctx.in_scope(model.path) and self._columns_enabled

    @cached_property
    def _columns_enabled(self) -> bool:
        from lotus_checks.checks import columns

        return any(self.ctx.enabled(rule.code) for rule in columns.RULES)

    def _configured_tags(self, model: Model) -> tuple[str, ...]:
        """Tags dbt adds from dbt_project.yml `models:` and YAML properties files."""
        from lotus_checks.dbt_project import project_tags

        tags = self._property_tags.get(model.name, ())
        if self.dbt_project is not None:
            data, folders = self.dbt_project
            tags += project_tags(data, model.path, folders)
        return tags

    @cached_property
    def dbt_project(self) -> tuple[Any, tuple[str, ...]] | None:
        """(data, model folders) of dbt_project.yml; None when it is missing or unusable."""
        from lotus_checks.dbt_project import model_paths

        project = self.config.dbt_project
        if not self.repo.is_file(project):
            return None
        doc = self.repo.yaml(project)
        paths = model_paths(project, doc.data) if doc is not None else None
        return (doc.data, paths.folders) if doc is not None and paths is not None else None

    @cached_property
    def _property_tags(self) -> dict[str, tuple[str, ...]]:
        from lotus_checks.dbt_project import property_tags

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
    def dbt_sources(self) -> dict[str, list[_DbtSource]]:
        out: dict[str, list[_DbtSource]] = {}
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
                      for name, _ in self.facts(m).sources if name == source or name not in lotus}
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
        return {src for model in self.repo.models for src, _ in self.facts(model).sources}


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _declared_sources(lake: _Lake, path: str) -> Iterator[_DbtSource]:
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
                    _DbtTable(
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
        yield _DbtSource(name, path, line, column, tuple(found))


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


# ---- LL301, LL305: dbt sources files --------------------------------------------------------


def _dbt_sources(lake: _Lake) -> Iterator[Finding]:
    if lake.ctx.enabled("LL301"):
        for source in lake.repo.stream_sources:
            yield from _missing_tables(lake, source)
    if lake.ctx.enabled("LL305"):
        lotus_sources = {dbt: lotus for lotus, dbt in lake.dbt_source_names.items()}
        for name, declared in sorted(lake.dbt_sources.items()):
            owner = name if name in lake.repo.sources else lotus_sources.get(name)
            if owner is not None:
                for dbt_source in declared:
                    yield from _orphan_tables(lake, dbt_source, owner)


def _sources_file(lake: _Lake, source: str) -> str:
    return f"{lake.source_folder(source)}/{lake.config.sources_file.replace('{source}', source)}"


def _read_through_source(lake: _Lake, source: str) -> bool:
    name = lake.dbt_source_name(source)
    return (
        name in lake.dbt_sources
        or lake.repo.is_file(_sources_file(lake, source))
        or name in lake.source_calls
    )


def _undeclared_streams(lake: _Lake, source: str) -> tuple[str, list[Stream]]:
    """(the sources file that should declare them, the source's synced streams no dbt sources
    file declares as a table of its dbt source); no streams when the source is not read through
    `source()`."""
    declared = lake.dbt_sources.get(lake.dbt_source_name(source), [])
    sources_file = declared[0].path if declared else _sources_file(lake, source)
    if not _read_through_source(lake, source):
        return sources_file, []
    if not declared and lake.repo.is_file(sources_file) and lake.repo.yaml(sources_file) is None:
        return sources_file, []  # the sources file cannot be read: its LL0xx finding says why
    names = {t.name for d in declared for t in d.tables}
    names |= {t.identifier for d in declared for t in d.tables if t.identifier}
    streams = [s for s in lake.repo.streams_of(source)
               if s.name not in names and lake.synced(s) and not _read_another_way(lake, s)]
    return sources_file, streams


def _read_another_way(lake: _Lake, stream: Stream) -> bool:
    """The stream's own models exist and none reads it through `source()` (they read its files
    by path, or the paths the orchestrator passes): no model needs its table, and dbt builds."""
    name = lake.stream_model_name(stream.source, stream.name)
    models = lake.models_by_name.get(name, []) or lake.other_layer_models(stream)
    if not models:
        return False
    dbt_name = lake.dbt_source_name(stream.source)
    for model in models:
        facts = lake.facts(model)
        if facts.tags is None or (dbt_name, stream.name) in facts.sources:
            return False
    return True


def _missing_tables(lake: _Lake, source: str) -> Iterator[Finding]:
    sources_file, streams = _undeclared_streams(lake, source)
    dbt_name = lake.dbt_source_name(source)
    declared = lake.dbt_sources.get(dbt_name, [])
    for stream in streams:
        places: list[Place] = []
        if declared:
            places.append((declared[0].path, declared[0].tables_line, declared[0].tables_column))
        places.append(lake.stream_place(stream))
        exists = lake.repo.is_file(sources_file)
        if declared:
            where = f"`{sources_file}`"
            hint = f"add `- name: {stream.name}` under `tables:` of source `{dbt_name}` in {sources_file}"
        else:
            where = f"`{sources_file}` ({'it declares no source `' + source + '`' if exists else 'no such file'})"
            hint = (
                f"{'declare' if exists else 'create ' + sources_file + ' declaring'} source "
                f"`{source}` with a table `{stream.name}` (dbt resolves "
                f"`source('{source}', '{stream.name}')` through it)"
            )
        yield lake.place(
            LL301,
            places,
            f"stream `{source}.{stream.name}` ({stream.config_path}) has no table in {where}",
            hint,
        )


def _orphan_tables(lake: _Lake, dbt_source: _DbtSource, source: str) -> Iterator[Finding]:
    streams = lake.stream_names.get(source, [])
    for table in dbt_source.tables:
        if table.name in streams or (table.identifier and table.identifier in streams):
            continue
        stream_file = f"{lake.config.streams}/{source}/{table.identifier or table.name}.json"
        yield LL305.finding(
            table.path,
            table.line,
            table.column,
            f"table `{table.name}` of source `{dbt_source.name}` has no stream config ({stream_file})"
            + _did_you_mean(table.name, streams),
            hint="rename the table to its stream, or remove it if the stream is gone",
        )


# ---- LL302, LL303: each stream's model and its tag ------------------------------------------


def _stream_model_gaps(lake: _Lake) -> list[tuple[Stream, str, list[Model]]]:
    """(stream, its model's name, its models) for every synced stream."""
    found = []
    for stream in lake.repo.streams:
        if lake.synced(stream):
            name = lake.stream_model_name(stream.source, stream.name)
            models = lake.models_by_name.get(name, []) or lake.other_layer_models(stream)
            found.append((stream, name, models))
    return found


def _names_stream_models(gaps: list[tuple[Stream, str, list[Model]]]) -> bool:
    """Models are found by name only where the repo names them `<layer>_<source>__<stream>`:
    with no stream's model named so, the repo has its own naming and LL302 cannot judge."""
    return any(models for _, _, models in gaps)


def _streams_without_model(lake: _Lake) -> list[tuple[Stream, str]]:
    gaps = _stream_model_gaps(lake)
    if not _names_stream_models(gaps):
        return []
    return [(stream, name) for stream, name, models in gaps if not models]


def _untagged_models(lake: _Lake) -> list[tuple[Stream, Model]]:
    return [
        (stream, model)
        for stream, _name, models in _stream_model_gaps(lake)
        if lake.stream_tags_in_use(stream.source)
        for model in models
        if _lacks_tag(lake, stream, model)
    ]


def _stream_models(lake: _Lake) -> Iterator[Finding]:
    gaps = _stream_model_gaps(lake)
    named = _names_stream_models(gaps)
    for stream, name, models in gaps:
        if not models:
            if lake.ctx.enabled("LL302") and named:
                yield _missing_model(lake, stream, name)
            continue
        if lake.ctx.enabled("LL303") and lake.stream_tags_in_use(stream.source):
            for model in models:
                yield from _missing_tag(lake, stream, model)


def _missing_model(lake: _Lake, stream: Stream, name: str) -> Finding:
    tag = lake.stream_tag(stream.source, stream.name)
    expected = f"{lake.source_folder(stream.source)}/{name}.sql"
    tagged = _tagged_under_another_name(lake, tag)
    places = [lake.stream_place(stream)]
    for m in tagged:
        places.append((m.path, *_tag_position(lake.repo.text(m.path) or "", tag)))
    message = f"stream `{stream.source}.{stream.name}` has no model {expected}"
    hint = f"create {expected} (tagged `{tag}`)"
    if tagged:
        # Dagster selects by the tag, so the stream is still processed: only the name is off.
        message += (f"; `{tagged[0].name}` carries its tag `{tag}` under another name (Dagster "
                    "runs it; the stream's own model is missing)")
        hint = f"rename {tagged[0].path} to {name}.sql, or " + hint
        finding = lake.place(LL302, places, message, hint)
        return replace(finding, severity=Severity.WARNING)
    return lake.place(LL302, places, message, hint)


def _tagged_under_another_name(lake: _Lake, tag: str) -> list[Model]:
    """Stream models that carry a stream's tag under another name: usually the renamed model."""
    return [
        m for m in lake.repo.models
        if m.name.startswith(STREAM_MODEL_PREFIX) and tag in (lake.facts(m).tags or ())
    ]


def _lacks_tag(lake: _Lake, stream: Stream, model: Model) -> bool:
    tags = lake.facts(model).tags
    return tags is not None and lake.stream_tag(stream.source, stream.name) not in tags


def _missing_tag(lake: _Lake, stream: Stream, model: Model) -> Iterator[Finding]:
    if not _lacks_tag(lake, stream, model):
        return
    tags = lake.facts(model).tags or ()
    tag = lake.stream_tag(stream.source, stream.name)
    line, column = _tags_position(lake.repo.text(model.path) or "")
    listed = ", ".join(f"'{t}'" for t in (*tags, tag))
    yield LL303.finding(
        model.path,
        line,
        column,
        f"model `{model.name}` lacks the tag `{tag}`: Dagster never runs it when "
        f"`{stream.source}.{stream.name}` lands",
        hint=f"set `{{{{ config(tags=[{listed}]) }}}}`",
    )


def _tags_position(text: str) -> tuple[int, int]:
    """Where the model's tags are set (else its config() call, else the top of the file)."""
    for pattern in (r"\btags\s*=", r"\bconfig\s*\("):
        match = re.search(pattern, text)
        if match:
            line = text.count("\n", 0, match.start()) + 1
            return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return 1, 1


# ---- LL306: models and tags that name no stream ---------------------------------------------


def _orphan_models(lake: _Lake) -> Iterator[Finding]:
    for model in lake.repo.models:
        if model.name.startswith(MART_PREFIXES):
            continue  # marts read models, not streams
        named = _model_stream(lake, model.name)
        tags = lake.facts(model).tags
        if tags is None:
            continue
        reported_own_tag = None
        if named is not None and lake.stream_tags_in_use(named[0]) and _orphan(lake, named, tags):
            source, entity = named
            yield LL306.finding(
                model.path,
                1,
                1,
                f"model `{model.name}` names no stream of `{source}` and none of its tags "
                f"names a stream" + _did_you_mean(entity, lake.stream_names.get(source, [])),
                hint=f"rename it to its stream's model, or tag it with the stream it reads "
                f"(`{lake.stream_tag(source, '<stream>')}`)",
            )
            reported_own_tag = lake.stream_tag(source, entity)
        yield from _orphan_tags(lake, model, tags, reported_own_tag)


def _orphan(lake: _Lake, named: tuple[str, str], tags: tuple[str, ...]) -> bool:
    """The model's entity is no stream, and no tag makes it a fan-out of one."""
    return not lake.is_stream(*named) and not any(lake.names_real_stream(t) for t in tags)


def _model_stream(lake: _Lake, name: str) -> tuple[str, str] | None:
    """(source, entity) for `int_<known source>__<entity>`; None for any other name."""
    if not name.startswith(STREAM_MODEL_PREFIX):
        return None
    source, sep, entity = name[len(STREAM_MODEL_PREFIX):].partition("__")
    if not sep or not entity or source not in lake.repo.sources:
        return None
    return source, entity


def _orphan_tags(
    lake: _Lake, model: Model, tags: tuple[str, ...], skip: str | None
) -> Iterator[Finding]:
    for tag in tags:
        named = lake.tag_stream(tag)
        if named is None or tag == skip or lake.is_stream(*named):
            continue
        source = named[0]
        candidates = [lake.stream_tag(source, s) for s in lake.stream_names.get(source, [])]
        # Read only for a finding: otherwise this family depends on the model only through its
        # tags and source() calls (the derived view), not its text.
        line, column = _tag_position(lake.repo.text(model.path) or "", tag)
        yield LL306.finding(
            model.path,
            line,
            column,
            f"tag `{tag}` names no stream of `{source}`" + _did_you_mean(tag, candidates),
            hint="Dagster selects models by the tags of existing streams; fix or drop the tag",
        )


def _tag_position(text: str, tag: str) -> tuple[int, int]:
    match = re.search(r"""['"]""" + re.escape(tag) + r"""['"]""", text)
    if match is None:
        return _tags_position(text)
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1


# ---- LL304: dbt model-paths ----------------------------------------------------------------


class _Uncovered(NamedTuple):
    doc: Any  # dbt_project.yml (YamlDoc)
    paths: Any  # its model paths (dbt_project.ModelPaths)
    folders: dict[str, list[str]]  # folder -> the models in it dbt never sees


def _uncovered_folders(lake: _Lake) -> _Uncovered | None:
    """The model folders dbt_project.yml leaves out; None when there is no usable one."""
    from lotus_checks.dbt_project import covers
    from lotus_checks.dbt_project import model_paths

    project = lake.config.dbt_project
    if not lake.repo.is_file(project):
        return None
    doc = lake.repo.yaml(project)
    paths = model_paths(project, doc.data) if doc is not None else None
    if doc is None or paths is None:
        return None
    covered_models = [m.path for m in lake.repo.models if covers(paths.folders, m.path)]
    uncovered: dict[str, list[str]] = {}
    for model in lake.repo.models:
        if not covers(paths.folders, model.path):
            folder = _uncovered_folder(model, covered_models)
            uncovered.setdefault(folder, []).append(model.path)
    return _Uncovered(doc, paths, uncovered)


def _model_paths(lake: _Lake) -> Iterator[Finding]:
    from lotus_checks.dbt_project import relative_to_project

    found = _uncovered_folders(lake)
    if found is None:
        return
    doc, paths, uncovered = found
    project = lake.config.dbt_project
    line, column = doc.position((paths.key,)) if paths.key else (1, 1)
    key = paths.key or "model-paths"
    for folder, models in sorted(uncovered.items()):
        listed = relative_to_project(project, folder)
        count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
        yield lake.place(
            LL304,
            [(project, line, column), *((m, 1, 1) for m in models)],
            f"model folder `{folder}` is not in `{key}` of {project}: dbt never builds "
            f"its {count}",
            hint=f"add `- {listed}` to `{key}` in {project}",
        )


def _uncovered_folder(model: Model, covered_models: list[str]) -> str:
    """The widest folder above `model`, inside its model folder, holding no covered model: the
    folder one `model-paths` entry would fix."""
    parts = model.path[len(model.models_folder) + 1:].split("/")[:-1]
    folder = model.models_folder
    for part in [None, *parts]:
        if part is not None:
            folder = f"{folder}/{part}"
        if not any(path.startswith(folder + "/") for path in covered_models):
            return folder
    return posixpath.dirname(model.path)


# ---- LL307 (and LL007): Terraform ------------------------------------------------------------


@dataclass(frozen=True)
class _Connection:
    path: str
    line: int
    reads: tuple[str, ...]  # catalog paths (or globs) its sync_catalog reads
    known: bool  # False: sync_catalog is built in a way that cannot be followed statically


def _terraform(lake: _Lake) -> Iterator[Finding]:
    from lotus_checks.checks.input import LL007
    from lotus_checks.terraform import HclError

    parsed = []
    # Unreadable files are left out: reported by the repo as LL0xx.
    for path, hcl in lake.repo.terraform().items():
        if not isinstance(hcl, HclError):
            parsed.append((path, hcl))
        elif lake.ctx.enabled("LL007"):
            yield LL007.finding(
                path, hcl.line, hcl.column, hcl.message,
                hint="fix the syntax (`tofu validate` shows the same error)",
            )
    if lake.ctx.enabled("LL307"):
        yield from _missing_paths(lake, parsed)
        yield from _missing_connections(lake, parsed)


def _terraform_in_scope(ctx: CheckContext) -> bool:
    """Terraform findings sit on .tf files, catalogs or stream configs: a run on other files
    (a commit touching only models) need not parse Terraform."""
    if ctx.targets is None:
        return True
    folders = (ctx.config.terraform + "/", ctx.config.streams + "/")
    return any(t.startswith(folders) for t in ctx.targets)


def _missing_paths(lake: _Lake, parsed: list[tuple[str, Any]]) -> Iterator[Finding]:
    from lotus_checks.terraform import resolve

    for path, hcl in parsed:
        module = posixpath.dirname(path)
        for call in hcl.calls:
            target = resolve(call, module)
            if target is None:
                continue
            outside = target == ".." or target.startswith("../")
            probe = lake.repo.is_dir if call.is_folder else lake.repo.is_file
            exists = not outside and probe(target)
            if exists:
                continue
            kind = "folder" if call.is_folder else "file"
            where = "outside the repository" if outside else "which does not exist"
            yield LL307.finding(
                path,
                call.line,
                call.column,
                f"`{call.function}()` reads {kind} `{target}`, {where}",
                hint=_path_hint(lake, module, target),
            )


def _path_hint(lake: _Lake, module: str, target: str) -> str:
    """For a moved catalog, the path that reads it now; else a generic fix."""
    if posixpath.basename(target) == CATALOG_NAME:
        source = posixpath.basename(posixpath.dirname(target))
        if source in lake.repo.catalogs:
            rel = posixpath.relpath(lake.repo.catalogs[source], module)
            return f'the catalog of `{source}` is at {lake.repo.catalogs[source]}: read "${{path.module}}/{rel}"'
    return "fix the path (relative to the .tf file's folder) or restore the file"


def _connections(parsed: list[tuple[str, Any]]) -> list[_Connection]:
    from lotus_checks.terraform import resolve_glob

    out = []
    for path, hcl in parsed:
        module = posixpath.dirname(path)
        for block in hcl.blocks:
            if block.type != "resource" or block.labels[:1] != ("airbyte_connection",):
                continue
            attribute = block.attribute("sync_catalog")
            if attribute is None:
                out.append(_Connection(path, block.line, (), known=True))
                continue
            reads = tuple(
                g for g in (resolve_glob(c, module) for c in attribute.calls if not c.is_folder)
                if g is not None
            )
            out.append(_Connection(path, block.line, reads, known=bool(reads)))
    return out


def _missing_connections(lake: _Lake, parsed: list[tuple[str, Any]]) -> Iterator[Finding]:
    import fnmatch

    connections = _connections(parsed)
    if not all(c.known for c in connections):
        return  # some connection's catalog cannot be followed: do not guess which it reads
    reads = [r for c in connections for r in c.reads]
    for source in lake.repo.stream_sources:
        streams = lake.repo.streams_of(source)
        if not streams or all(lake.is_dlt(s) for s in streams):
            continue
        catalog = f"{lake.config.streams}/{source}/{CATALOG_NAME}"
        if any(r == catalog or fnmatch.fnmatchcase(catalog, r) for r in reads):
            continue
        # A connection reading a moved catalog already has its own finding (the path is gone).
        if any(r.endswith(f"/{source}/{CATALOG_NAME}") for r in reads):
            continue
        places = _source_blocks(parsed, source)
        if catalog in lake.repo.catalogs.values():
            places.append((catalog, None, None))
        places += [lake.stream_place(s) for s in streams]
        folder = lake.config.terraform
        rel = posixpath.relpath(catalog, folder)
        yield lake.place(
            LL307,
            places,
            f"Airbyte source `{source}` has stream configs but no `airbyte_connection` in "
            f"{folder} reads its catalog {catalog}: its streams are never synced",
            hint=f'add `resource "airbyte_connection" "{source}"` with '
            f'`sync_catalog = jsondecode(file("${{path.module}}/{rel}"))`',
        )


def _source_blocks(parsed: list[tuple[str, Any]], source: str) -> list[Place]:
    """The `airbyte_source_*` resource of a source (labelled with its name), if any."""
    out: list[Place] = []
    for path, hcl in parsed:
        for block in hcl.blocks:
            if (
                block.type == "resource"
                and len(block.labels) == 2
                and block.labels[0].startswith("airbyte_source_")
                and source in (block.labels[1], block.labels[0][len("airbyte_source_"):])
            ):
                out.append((path, block.line, block.column))
    return out


# ---- --fix: the mechanical steps of adding a stream -----------------------------------------
# Safe (what a person would write, nothing lost): LL301 adds the table to the dbt sources file,
# LL303 adds the stream tag to the model's config(), LL304 adds the folder to model-paths.
# Unsafe (--unsafe-fixes; a starting point to review): LL302 writes the stream's model.

SAFE_FIXES = ("LL301", "LL303", "LL304")
UNSAFE_FIXES = ("LL302",)


def fix(ctx: CheckContext) -> dict[str, bytes]:
    """The files --fix would write (path -> new bytes) for the enabled fixable rules."""
    lake = _Lake(ctx)
    texts: dict[str, str] = {}

    def current(path: str) -> str | None:
        return texts[path] if path in texts else lake.repo.text(path)

    if ctx.enabled("LL302") and ctx.unsafe_fixes:
        for stream, name in _streams_without_model(lake):
            path = f"{lake.source_folder(stream.source)}/{name}.sql"
            tagged = _tagged_under_another_name(lake, lake.stream_tag(stream.source, stream.name))
            if not ctx.is_reported("LL302", stream.config_path, *(m.path for m in tagged)):
                continue
            if not lake.repo.is_file(path) and path not in texts:
                texts[path] = _new_model(lake, stream)
    if ctx.enabled("LL301"):
        for path, edit in _sources_file_edits(lake, current):
            texts[path] = edit
    if ctx.enabled("LL303"):
        from lotus_checks.edits import add_model_tag

        for stream, model in _untagged_models(lake):
            if not ctx.is_reported("LL303", model.path):
                continue
            text = current(model.path)
            tag = lake.stream_tag(stream.source, stream.name)
            edited = add_model_tag(text, tag, model.name) if text else None
            if edited is not None:
                texts[model.path] = edited
    if ctx.enabled("LL304"):
        project_edit = _model_paths_edit(lake, current)
        if project_edit is not None:
            texts[project_edit[0]] = project_edit[1]
    return {path: text.encode("utf-8") for path, text in texts.items()}


def _model_paths_edit(lake: _Lake, current: Callable[[str], str | None]) -> tuple[str, str] | None:
    """dbt_project.yml with every uncovered model folder added to its model-paths."""
    from lotus_checks.dbt_project import relative_to_project
    from lotus_checks.edits import append_to_yaml_list

    found = _uncovered_folders(lake)
    if found is None or found.paths.key is None:
        return None  # no model-paths key: dbt reads `models`; adding the key is a person's call
    project = lake.config.dbt_project
    text = current(project)
    for folder, models in sorted(found.folders.items()):
        if text is not None and lake.ctx.is_reported("LL304", project, *models):
            text = append_to_yaml_list(text, (found.paths.key,), relative_to_project(project, folder))
    return (project, text) if text is not None and text != current(project) else None


def _sources_file_edits(
    lake: _Lake, current: Callable[[str], str | None]
) -> Iterator[tuple[str, str]]:
    """Each dbt sources file with the tables of its source's undeclared streams added, or the
    new sources file of a source that has none."""
    from lotus_checks.edits import append_to_yaml_list

    for source in lake.repo.stream_sources:
        path, streams = _undeclared_streams(lake, source)
        if not streams:
            continue
        streams = [s for s in streams if lake.ctx.is_reported("LL301", path, s.config_path)]
        text = current(path)
        if not streams:
            continue
        if text is None:
            yield path, _new_sources_file(lake, source, [s.name for s in streams])
            continue
        doc = lake.repo.yaml(path)
        entries = doc.data.get("sources") if doc is not None and isinstance(doc.data, dict) else None
        index = next(
            (i for i, e in enumerate(entries or [])
             if isinstance(e, dict) and e.get("name") == lake.dbt_source_name(source)),
            None,
        )
        edited: str | None = text
        if index is None or entries is None:
            continue  # the file declares other sources only: where this one goes is a person's call
        if not isinstance(entries[index].get("tables"), list):
            continue
        for stream in streams:
            if edited is not None and lake.ctx.is_reported("LL301", path, stream.config_path):
                edited = append_to_yaml_list(edited, ("sources", index, "tables"), {"name": stream.name})
        if edited is not None and edited != text:
            yield path, edited


def _new_sources_file(lake: _Lake, source: str, tables: list[str]) -> str:
    """A dbt sources file declaring `source` and its tables, with the source-level settings
    (schema, external location) of another source's declaration, its name swapped for this one."""
    entry: dict[str, Any] = {"name": source}
    for name, declared in sorted(lake.dbt_sources.items()):
        if name == source or name not in lake.repo.sources:
            continue
        doc = lake.repo.yaml(declared[0].path)
        sources = doc.data.get("sources") if doc is not None and isinstance(doc.data, dict) else None
        model = next((e for e in sources or [] if isinstance(e, dict) and e.get("name") == name), None)
        if model is not None:
            for key, value in model.items():
                if key not in ("name", "tables", "description"):
                    entry[key] = _renamed(value, name, source)
        break
    entry["tables"] = [{"name": table} for table in tables]
    return "version: 2\n\n" + _dump_indented({"sources": [entry]})


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with the source name `old` replaced by `new` in its strings (`raw_shopify`,
    `.../shopify/{name}/...`), where it stands as a whole word."""
    if isinstance(value, str):
        return re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, value)
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def _dump_indented(data: Any) -> str:
    """YAML in the layout dbt projects use: sequences indented under their key."""
    import yaml

    class IndentedDumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    return yaml.dump(data, Dumper=IndentedDumper, sort_keys=False, default_flow_style=False,
                     width=10_000)


def _new_model(lake: _Lake, stream: Stream) -> str:
    """The model --unsafe-fixes writes for a stream without one, in its siblings' style."""
    from lotus_checks.new_model import Sibling
    from lotus_checks.new_model import raw_read_kind
    from lotus_checks.new_model import stream_model
    from lotus_checks.sql.render import render_model

    data = lake.stream_data(stream)
    connector = "dlt" if lake.is_dlt(stream) else "airbyte"
    fields = data.get("fields")
    key = data.get("primary_key")
    primary_key = [p[0] for p in key if isinstance(p, list) and p and isinstance(p[0], str)] \
        if isinstance(key, list) else []
    siblings = []
    for model in sorted(lake.repo.models, key=lambda m: m.path):
        named = _model_stream(lake, model.name) if model.source == stream.source else None
        other = lake.repo.stream(*named) if named is not None else None
        text = lake.repo.text(model.path)
        if other is None or text is None or lake.is_dlt(other) != (connector == "dlt"):
            continue
        rendered = render_model(text, model_name=model.name)
        if rendered.sql is not None and not rendered.problems:
            siblings.append(Sibling(text=text, stream=other.name,
                                    tag=lake.stream_tag(stream.source, other.name),
                                    config=dict(rendered.config)))
    # The way most siblings read raw data (the first one's, on a tie).
    kinds = [raw_read_kind(s) for s in siblings]
    sibling = max(siblings, key=lambda s: kinds.count(raw_read_kind(s)), default=None)
    return stream_model(
        stream.source,
        stream.name,
        lake.stream_tag(stream.source, stream.name),
        _synced_definitions(lake, stream, fields),
        connector,
        primary_key,
        sibling,
    )


def _synced_definitions(lake: _Lake, stream: Stream, fields: Any) -> dict[str, Any]:
    """name -> definition of each field the stream selects, from the source schema when it has
    the field (what the generator writes into the catalog), else from the stream config."""
    if not isinstance(fields, dict):
        return {}
    offered: Any = {}
    if stream.schema_path is not None:
        doc = lake.repo.json(stream.schema_path)
        offered = doc.data.get("fields") if doc is not None and isinstance(doc.data, dict) else {}
    offered = offered if isinstance(offered, dict) else {}
    return {name: offered.get(name, definition) for name, definition in fields.items()
            if isinstance(name, str)}
