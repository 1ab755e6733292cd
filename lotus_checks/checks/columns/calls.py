"""LL403, LL404, LL406 (and LL004 for a var() the orchestrator does not pass): what a model's
`ref()`, `source()` and raw `read_parquet` paths name."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping

from lotus_checks.checks.columns.hints import did_you_mean
from lotus_checks.checks.columns.relations import Place
from lotus_checks.checks.columns.relations import Schemas
from lotus_checks.checks.input import LL004
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Stream
from lotus_checks.sql.facts import Call
from lotus_checks.sql.facts import Relation
from lotus_checks.sql.raw_paths import brace_alternatives
from lotus_checks.sql.raw_paths import has_runtime_value
from lotus_checks.sql.raw_paths import narrowed_glob
from lotus_checks.sql.raw_paths import path_read
from lotus_checks.sql.raw_paths import runtime_placeholders

LL403 = Rule(
    "LL403",
    "unknown-ref",
    "`ref()` to a model that does not exist",
    explanation="""`{{ ref('...') }}` names no model in the configured model folders; dbt fails to
compile the project.

Fires on:
```sql
select * from {{ ref('int_shopify__order') }}
```
Fix: `{{ ref('int_shopify__orders') }}` (the hint names the nearest model).""",
)
LL404 = Rule(
    "LL404",
    "unknown-source",
    "`source()` to a source or table no sources file declares",
    explanation="""`{{ source('<source>', '<table>') }}` names a source or table that no
`_<source>__sources.yml` in the model folders declares; dbt fails to compile the project.

Fires on:
```sql
select * from {{ source('shopify', 'order') }}
```
Fix: `{{ source('shopify', 'orders') }}`, or declare the table under `tables:` of the source.""",
)
LL406 = Rule(
    "LL406",
    "wrong-raw-path",
    "Raw read names no stream, or another stream than the model's own",
    explanation="""Every core model reads its own stream: the one its per-stream tag
(`<source>__<stream>`) names, else the one its name `int_<source>__<stream>` names. A
`read_parquet` path (matched with the `raw-path` pattern, default `raw/{source}/{stream}/`)
that names a different stream, or no stream at all, reads the wrong data. A fan-out model such
as `int_shopify__order_lines` tagged `shopify__orders` may read `raw/shopify/orders/`.

A glob names every stream whose files it can match, in the stream's folder (any part files
and partition folders below it) or beside it (Airbyte's S3 destination writes `orders0.parquet`
when its path format ends in the stream name): `'s3://landing/raw/shopify/orders*.parquet'`
reads `orders`, and would also read a stream `orders_refunds` (`orders_refunds0.parquet`),
mixing both; it fires when that is not exactly the model's own stream. Globs follow DuckDB:
`**` crosses folders only as a whole path segment, `[!x]` negates (`[^x]` does not), and there
are no `{a,b}` alternatives (such a path reads a folder of that literal name: read a list of
paths instead). A path passed at run time (`read_parquet('{{ var("file") }}')`,
`read_parquet({{ var("files") }})`) reads the model's own stream; it fires only when the model
has no stream (neither its tag nor its name names one) where Dagster runs models per stream
(see LL303): there the model is given no stream's files.

Fires on (in `int_klaviyo__lists.sql`):
```sql
select * from read_parquet('s3://landing/raw/klaviyo/flows/**/*', hive_partitioning=true)
```
Fix: `read_parquet('s3://landing/raw/klaviyo/lists/**/*', hive_partitioning=true)`.""",
)


def check_call(schemas: Schemas, model: Model, call: Call) -> Iterator[Finding]:
    args = call.args
    where = (model.path, call.line, call.column)
    if call.kind == "files" and args:
        yield from _check_runtime_var(schemas, model, where, args[0])
    if call.kind == "ref" and args:
        name = args[-1]
        if name not in schemas.models:
            yield LL403.finding(
                *where, f"ref('{name}') names no model",
                hint=did_you_mean(name, list(schemas.models), "model")
                or f"no `{name}.sql` in the model folders {', '.join(schemas.ctx.config.models)}",
            )
    elif call.kind == "source" and len(args) >= 2:
        source, table = args[0], args[1]
        declared = schemas.declared()
        if (source, table) in declared:
            return
        tables = sorted(t for s, t in declared if s == source)
        if tables:
            hint = did_you_mean(table, tables, "table") or (
                f"declare `{table}` under `tables:` of source `{source}` in "
                f"{declared[(source, tables[0])].path}"
            )
            message = f"source('{source}', '{table}'): source `{source}` declares no table `{table}`"
        else:
            sources = sorted({s for s, _ in declared})
            hint = did_you_mean(source, sources, "source") or (
                f"declare source `{source}` in "
                f"{schemas.ctx.config.sources_file.format(source=source)} in its model folder"
            )
            message = f"source('{source}', '{table}'): no sources file declares source `{source}`"
        yield LL404.finding(*where, message, hint=hint)


def _check_runtime_var(
    schemas: Schemas, model: Model, where: Place, name: str
) -> Iterator[Finding]:
    """A var() without default nor project value must be one the orchestrator passes when
    it runs the model."""
    passed = schemas.conventions.passed_vars(model)
    if passed is None or name in passed:
        return
    listed = ", ".join(f"`{n}`" for n in sorted(passed)) or "none"
    hint = did_you_mean(name, sorted(passed), "var")
    hint = (hint + " Otherwise " if hint else "") + (
        f"give it a default (`var('{name}', ...)`), set it under `vars:` in "
        f"{schemas.ctx.config.dbt_project}, or pass it with `--vars` (then list it in "
        "`runtime-vars` if the checker cannot read that)"
    )
    yield LL004.finding(
        *where,
        f"var('{name}') has no default and the orchestrator does not pass it to this model "
        f"(it passes {listed}): `dbt build` fails with \"Required var '{name}' not found\"",
        hint=hint,
    )


def check_raw_path(
    schemas: Schemas, model: Model, own: Stream | None, entry: Relation,
    broken_lines: frozenset[int | None] = frozenset(),
) -> Iterator[Finding]:
    """`broken_lines`: lines with template errors (LL004); what they rendered as is not a
    path anyone wrote, so paths on them are not judged."""
    if entry.kind != "file":
        return
    where = (model.path, entry.line, entry.column)
    passed = schemas.conventions.passed_vars(model) if entry.runtime else None
    unpassed = passed is not None and any(
        name and name not in passed for name in entry.runtime.values())  # LL004 says so
    if entry.files and own is None and not unpassed and schemas.conventions.models_run_per_stream:
        yield LL406.finding(
            *where,
            "read_parquet of a path passed at run time (a var() without default) in a model "
            "whose stream cannot be told",
            hint="Dagster passes the files of the model's stream: name the model "
            "`<layer>_<source>__<stream>` or give it the tag "
            f"`{schemas.ctx.config.stream_tag}`",
        )
    if entry.line in broken_lines:
        return
    for path in entry.paths:
        shown = _as_written(path, entry.runtime)
        braces = brace_alternatives(path)
        if braces is not None:
            yield LL406.finding(
                *where, f"read_parquet path '{shown}' uses `{braces}`, which DuckDB globs do "
                "not expand: it looks for a folder of that literal name",
                hint="read a list of paths: read_parquet(["
                + ", ".join(f"'{_as_written(path.replace(braces, a, 1), entry.runtime)}'"
                            for a in braces[1:-1].split(",")) + "])",
            )
            continue
        read = path_read(path, schemas.ctx.config.raw_path, schemas.stream_keys)
        if read.kind == "glob":
            yield from _check_glob(schemas, where, path, shown, own, read.streams)
            continue
        if read.kind != "stream" or read.named is None:
            if read.kind == "runtime" or has_runtime_value(path):
                continue  # known only at run time: nothing certain to say
            yield LL406.finding(
                *where, f"read_parquet path '{shown}' names no stream",
                hint=f"raw files live under `{schemas.ctx.config.raw_path}` (raw-path)",
            )
            continue
        source, name = read.named
        stream = schemas.repo.stream(source, name)
        if stream is None:
            known = [s.name for s in schemas.repo.streams_of(source)]
            yield LL406.finding(
                *where, f"read_parquet path '{shown}' names stream {source}.{name}, "
                "which has no stream config",
                hint=did_you_mean(name, known, "stream") or f"no {schemas.ctx.config.streams}/{source}/{name}.json",
            )
        elif own is not None and stream != own:
            yield LL406.finding(
                *where, f"read_parquet path '{shown}' reads stream {source}.{name}, "
                f"but this model's stream is {own.source}.{own.name}",
                hint=f"read `{schemas.ctx.config.raw_path.format(source=own.source, stream=own.name)}`, "
                "or move the model/fix its tag if it belongs to the other stream",
            )


def _check_glob(
    schemas: Schemas, where: Place, path: str, shown: str, own: Stream | None,
    matched: tuple[tuple[str, str], ...],
) -> Iterator[Finding]:
    """A glob reads every stream whose files it can match: it must be exactly one, the
    model's own. `shown`: the path as written (runtime values as their var())."""
    names = ", ".join(f"{s}.{n}" for s, n in matched)
    if own is not None and (own.source, own.name) not in matched:
        what = f"the files of {names}" if matched else "no stream's files"
        yield LL406.finding(
            *where, f"read_parquet glob '{shown}' matches {what}, but this model's stream "
            f"is {own.source}.{own.name}",
            hint=f"read its own stream's files, e.g. "
            f"`{narrowed_glob(path, schemas.ctx.config.raw_path, own.source, own.name)}`",
        )
    elif not matched:
        yield LL406.finding(
            *where, f"read_parquet glob '{shown}' matches no stream's files",
            hint=f"raw files live under `{schemas.ctx.config.raw_path}` (raw-path)",
        )
    elif len(matched) > 1:
        target = own or schemas.repo.stream(*matched[0])
        assert target is not None
        yield LL406.finding(
            *where, f"read_parquet glob '{shown}' matches the files of {len(matched)} streams "
            f"({names}): the model reads them all mixed together",
            hint=f"narrow the glob to {target.source}.{target.name}'s files, e.g. "
            f"`{narrowed_glob(path, schemas.ctx.config.raw_path, target.source, target.name)}`",
        )


def _as_written(path: str, runtime: Mapping[str, str]) -> str:
    """`path` with each runtime placeholder shown as the var() (or env_var()) it stands for."""
    for placeholder in runtime_placeholders(path):
        name = runtime.get(placeholder, "")
        written = f'{{{{ var("{name}") }}}}' if name else "{{ env_var(...) }}"
        path = path.replace(placeholder, written)
    return path
