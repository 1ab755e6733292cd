"""LL302, LL303, LL306: each synced stream has its model, the model carries the stream tag
Dagster selects it by, and no model or stream tag names a stream that is gone."""

from __future__ import annotations

import re
from dataclasses import replace
from collections.abc import Iterator

from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.lake import MART_PREFIXES
from lotus_checks.checks.coverage.lake import STREAM_MODEL_PREFIX
from lotus_checks.checks.coverage.lake import did_you_mean
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Stream

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


def stream_model_gaps(lake: Lake) -> list[tuple[Stream, str, list[Model]]]:
    """(stream, its model's name, its models) for every synced stream."""
    found = []
    for stream in lake.repo.streams:
        if lake.synced(stream):
            name = lake.stream_model_name(stream.source, stream.name)
            models = lake.models_by_name.get(name, []) or lake.other_layer_models(stream)
            found.append((stream, name, models))
    return found


def names_stream_models(gaps: list[tuple[Stream, str, list[Model]]]) -> bool:
    """Models are found by name only where the repo names them `<layer>_<source>__<stream>`:
    with no stream's model named so, the repo has its own naming and LL302 cannot judge."""
    return any(models for _, _, models in gaps)


def streams_without_model(lake: Lake) -> list[tuple[Stream, str]]:
    gaps = stream_model_gaps(lake)
    if not names_stream_models(gaps):
        return []
    return [(stream, name) for stream, name, models in gaps if not models]


def untagged_models(lake: Lake) -> list[tuple[Stream, Model]]:
    return [
        (stream, model)
        for stream, _name, models in stream_model_gaps(lake)
        if lake.stream_tags_in_use(stream.source)
        for model in models
        if _lacks_tag(lake, stream, model)
    ]


def check_stream_models(lake: Lake) -> Iterator[Finding]:
    gaps = stream_model_gaps(lake)
    named = names_stream_models(gaps)
    for stream, name, models in gaps:
        if not models:
            if lake.ctx.enabled("LL302") and named:
                yield _missing_model(lake, stream, name)
            continue
        if lake.ctx.enabled("LL303") and lake.stream_tags_in_use(stream.source):
            for model in models:
                yield from _missing_tag(lake, stream, model)


def _missing_model(lake: Lake, stream: Stream, name: str) -> Finding:
    tag = lake.stream_tag(stream.source, stream.name)
    expected = f"{lake.source_folder(stream.source)}/{name}.sql"
    tagged = tagged_under_another_name(lake, tag)
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


def tagged_under_another_name(lake: Lake, tag: str) -> list[Model]:
    """Stream models that carry a stream's tag under another name: usually the renamed model."""
    return [
        m for m in lake.repo.models
        if m.name.startswith(STREAM_MODEL_PREFIX) and tag in (lake.model_view(m).tags or ())
    ]


def _lacks_tag(lake: Lake, stream: Stream, model: Model) -> bool:
    tags = lake.model_view(model).tags
    return tags is not None and lake.stream_tag(stream.source, stream.name) not in tags


def _missing_tag(lake: Lake, stream: Stream, model: Model) -> Iterator[Finding]:
    if not _lacks_tag(lake, stream, model):
        return
    tags = lake.model_view(model).tags or ()
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


def check_orphan_models(lake: Lake) -> Iterator[Finding]:
    for model in lake.repo.models:
        if model.name.startswith(MART_PREFIXES):
            continue  # marts read models, not streams
        named = model_stream(lake, model.name)
        tags = lake.model_view(model).tags
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
                f"names a stream" + did_you_mean(entity, lake.stream_names.get(source, [])),
                hint=f"rename it to its stream's model, or tag it with the stream it reads "
                f"(`{lake.stream_tag(source, '<stream>')}`)",
            )
            reported_own_tag = lake.stream_tag(source, entity)
        yield from _orphan_tags(lake, model, tags, reported_own_tag)


def _orphan(lake: Lake, named: tuple[str, str], tags: tuple[str, ...]) -> bool:
    """The model's entity is no stream, and no tag makes it a fan-out of one."""
    return not lake.is_stream(*named) and not any(lake.names_real_stream(t) for t in tags)


def model_stream(lake: Lake, name: str) -> tuple[str, str] | None:
    """(source, entity) for `int_<known source>__<entity>`; None for any other name."""
    if not name.startswith(STREAM_MODEL_PREFIX):
        return None
    source, sep, entity = name[len(STREAM_MODEL_PREFIX):].partition("__")
    if not sep or not entity or source not in lake.repo.sources:
        return None
    return source, entity


def _orphan_tags(
    lake: Lake, model: Model, tags: tuple[str, ...], skip: str | None
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
            f"tag `{tag}` names no stream of `{source}`" + did_you_mean(tag, candidates),
            hint="Dagster selects models by the tags of existing streams; fix or drop the tag",
        )


def _tag_position(text: str, tag: str) -> tuple[int, int]:
    match = re.search(r"""['"]""" + re.escape(tag) + r"""['"]""", text)
    if match is None:
        return _tags_position(text)
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
