"""LL301, LL305: each synced stream is a table of its dbt source, and each table of a Lotus
source's dbt sources file has a stream."""

from __future__ import annotations

from collections.abc import Iterator

from lotus_checks.checks.coverage.lake import DbtSource
from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.lake import Place
from lotus_checks.checks.coverage.lake import did_you_mean
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Stream

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


def check_dbt_sources(lake: Lake) -> Iterator[Finding]:
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


def _sources_file(lake: Lake, source: str) -> str:
    return f"{lake.source_folder(source)}/{lake.config.sources_file.replace('{source}', source)}"


def _read_through_source(lake: Lake, source: str) -> bool:
    name = lake.dbt_source_name(source)
    return (
        name in lake.dbt_sources
        or lake.repo.is_file(_sources_file(lake, source))
        or name in lake.source_calls
    )


def undeclared_streams(lake: Lake, source: str) -> tuple[str, list[Stream]]:
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


def _read_another_way(lake: Lake, stream: Stream) -> bool:
    """The stream's own models exist and none reads it through `source()` (they read its files
    by path, or the paths the orchestrator passes): no model needs its table, and dbt builds."""
    name = lake.stream_model_name(stream.source, stream.name)
    models = lake.models_by_name.get(name, []) or lake.other_layer_models(stream)
    if not models:
        return False
    dbt_name = lake.dbt_source_name(stream.source)
    for model in models:
        facts = lake.model_view(model)
        if facts.tags is None or (dbt_name, stream.name) in facts.sources:
            return False
    return True


def _missing_tables(lake: Lake, source: str) -> Iterator[Finding]:
    sources_file, streams = undeclared_streams(lake, source)
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


def _orphan_tables(lake: Lake, dbt_source: DbtSource, source: str) -> Iterator[Finding]:
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
            + did_you_mean(table.name, streams),
            hint="rename the table to its stream, or remove it if the stream is gone",
        )
