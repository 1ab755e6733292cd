"""LL4xx: every column a model reads is checked against what its relations really have.

Per model, the *facts* (lotus_checks/sql/facts.py: rendered both ways, parsed, every column
resolved to the relation it comes from) are cached by content; they never depend on stream
configs. This module compares them with the stream configs, source schemas, sources files and the
other models' outputs, which is cheap and runs every time.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Any
from typing import Iterator

from lotus_checks.catalog_schema import is_field_map
from lotus_checks.checks.coverage import Conventions
from lotus_checks.checks.input import LL003
from lotus_checks.checks.input import LL004
from lotus_checks.checks.input import LL008
from lotus_checks.context import CheckContext
from lotus_checks.finding import Finding
from lotus_checks.finding import Severity
from lotus_checks.repo import Model
from lotus_checks.repo import Stream
from lotus_checks.rules import Rule
from lotus_checks.sql.raw_paths import brace_alternatives
from lotus_checks.sql.raw_paths import has_runtime_value
from lotus_checks.sql.raw_paths import is_runtime_value
from lotus_checks.sql.raw_paths import narrowed_glob
from lotus_checks.sql.raw_paths import path_read
from lotus_checks.sql.raw_paths import runtime_placeholders

LL401 = Rule(
    "LL401",
    "unknown-column",
    "Column does not exist in the relation it is read from",
    explanation="""The model reads a column that the stream does not have: it is neither one of the
stream config's selected `fields` nor offered by the source schema (nor a metadata column), or a
CTE/subquery of the model does not define it. dbt fails on it in production, after the push.

Fires on (`streams/shopify/orders.json` selects `email`):
```sql
select id, lower(emial) as email
from {{ source('shopify', 'orders') }}
```
Fix: `lower(email) as email`. The hint names the nearest existing columns.

Metadata columns always exist: `_airbyte_raw_id`, `_airbyte_extracted_at`, `_airbyte_meta`,
`_airbyte_generation_id` for Airbyte streams, `_dlt_load_id`, `_dlt_id` for `"connector": "dlt"`
streams. `year`/`month`/`day` exist only with `hive_partitioning=true` and `filename` only with
`filename=true` on that `read_parquet` (the hint says which option is missing):
```sql
select filename from read_parquet({{ var("files") }}, hive_partitioning=true)
```
Fix: `read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)`.""",
)
LL402 = Rule(
    "LL402",
    "unselected-column",
    "Column offered by the source but not selected in the stream config",
    explanation="""The source schema offers the column, but the stream config does not list it in
`fields`, so it is never synced and does not exist downstream.

Fires on (`sources/shopify/orders.json` offers `note`, `streams/shopify/orders.json` does not
select it):
```sql
select id, note from {{ source('shopify', 'orders') }}
```
Fix: add `"note": {"type": "string"}` to `fields` in `streams/shopify/orders.json` and regenerate
the catalog (the generator script, e.g. `python orchestration/airbyte/generate-catalog.py`).""",
)
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
LL405 = Rule(
    "LL405",
    "unknown-model-column",
    "Column read from a `ref()`'d model that the model does not output",
    explanation="""A model (usually a mart) reads a column from an upstream model that the upstream
model does not select. Each model's output columns are computed from its SQL, with `select *`
expanded against the stream schema, so marts are checked as thoroughly as core models.

Fires on (`int_shopify__orders` outputs `email`, not `customer_email`):
```sql
select orders.customer_email from {{ ref('int_shopify__orders') }} as orders
```
Fix: `orders.email`, or add the column to the upstream model's select list.""",
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
LL407 = Rule(
    "LL407",
    "unknown-nested-field",
    "JSON path into an object field that its schema does not declare",
    severity=Severity.WARNING,
    explanation="""A JSON path (`->`, `->>`, `json_extract*`, e.g.
`attributes::JSON->>'$.location.city'`) names a key that the object field's nested `properties`
(in the source schema, else the stream config) do not declare. DuckDB returns NULL for a missing
JSON key, so the model builds and the column is silently empty: a warning. Also reported for
struct access into a field whose storage is not certainly a STRUCT (an object schema without an
explicit `"type": "object"`). Silent where the schema gives no nested properties: Airbyte's
Parquet writer stores an object without declared properties as JSON text, whose keys nothing
declares. Struct access into a declared STRUCT is LL408 (an error).

Fires on (`attributes.location` declares `city`, not `cty`):
```sql
select attributes::JSON->>'$.location.cty' as city from {{ source('klaviyo', 'profiles') }}
```
Fix: `attributes::JSON->>'$.location.city'`.""",
)
LL408 = Rule(
    "LL408",
    "unknown-struct-field",
    "Struct access names a key the STRUCT field does not have",
    explanation="""Struct access (`a.b.c`, `a['b']`, `struct_extract(a, 'b')`) into an object field
whose schema (the source schema, else the stream config) declares `"type": "object"` with
`properties`, naming a key it does not declare. Airbyte's Parquet writer stores such an object as
a STRUCT with exactly the declared properties (an object without properties lands as JSON text,
which is never reported here), so DuckDB fails to bind the model ("Could not find key ... in
struct") and `dbt build` fails. Arrays of such objects are checked through `unnest` and `[i]`,
and `_airbyte_meta` is the STRUCT Airbyte writes (`sync_id`, `changes`). Streams loaded by dlt
are assumed to land declared objects the same way (struct access into them is what their models
do). A JSON path into the same field (`a::JSON->>'$.b'`) returns NULL instead: that is LL407, a
warning.

Fires on (`total_price_set.shop_money` declares `amount`, not `amountt`):
```sql
select total_price_set.shop_money.amountt from {{ source('shopify', 'orders') }}
```
Fix: `total_price_set.shop_money.amount`. The hint names the nearest declared keys. A struct
passed on under a new name by `* rename (customer as buyer)` keeps its keys (`buyer.idd` is
reported); one rebuilt by an expression (`* replace (struct_insert(customer, ...) as customer)`)
is not checked, nor are keys read inside lambdas (`list_transform(line_items, lambda e: e.skuu)`).
A struct aliased in a select list (`customer as cust`) keeps its keys.""",
)
LL409 = Rule(
    "LL409",
    "outer-aggregate-in-subquery",
    "Aggregate in a subquery over outer columns only, where the outer query cannot take it",
    explanation="""An aggregate in a subquery whose columns all come from an outer query belongs to
that outer query (SQL's rule, which DuckDB follows). DuckDB then fails to bind the model, and
`dbt build` fails, when the subquery sits in the outer query's WHERE clause, JOIN condition or
GROUP BY ("WHERE clause cannot contain aggregates"), in a LATERAL subquery (explicit, or a
subquery in FROM that reads an earlier FROM item: "LATERAL join cannot contain aggregates"),
or in the select list, HAVING, QUALIFY or ORDER BY of an outer query that has no GROUP BY and
reads other columns outside aggregates (the aggregate makes it an aggregate query: "column ...
must appear in the GROUP BY clause"). Usually a name the subquery's own relation lacks falls
through to the outer query. In an incremental model this breaks every incremental run, while
the first, full build passes.

Fires on (the stream's field is `updated`; `{{ this }}`, the model's own output, calls it
`updated_at`, so `updated` resolves to the outer query):
```sql
select id, to_timestamp(updated) as updated_at from {{ source('stripe', 'subscriptions') }}
{% if is_incremental() %}
where to_timestamp(updated) > (select max(updated) from {{ this }})
{% endif %}
```
Fix: `(select max(updated_at) from {{ this }})`. The finding is at the first outer column of the
aggregate. Where the outer query can take the aggregate (it is grouped, or has no other
columns) such a name is LL410. A qualifier the subquery's own relation has as a column
(`customer.id` where it has a STRUCT `customer`) is that column, not an outer alias
`customer`, as in DuckDB. Not judged: a subquery over a relation whose columns are unknown
(a table function such as `range(2)`, a table outside the project), which may have the name.""",
)
LL410 = Rule(
    "LL410",
    "outer-column-in-subquery",
    "Unqualified name in a subquery resolves only to an outer query",
    severity=Severity.WARNING,
    explanation="""A subquery reads an unqualified name that none of its own relations has, so DuckDB
binds it to a relation of an outer query (a correlated subquery). That is legal, but when
unintended the subquery silently compares or returns the outer row's value: usually a misspelled
or renamed column of the subquery's own relation (often `{{ this }}`, the model's own output
columns). Qualified outer references (`o.id`) are never reported, nor are names in a subquery
without a FROM clause (`join lateral (select o_total * 2)`: the outer row is all it can mean).
Where DuckDB rejects the result (an aggregate over outer columns only, see LL409) the finding
is LL409, an error.

Fires on (`{{ this }}` outputs `updated_at`, not the stream's `updated`; the outer `s` has it):
```sql
select * from {{ source('stripe', 'subscriptions') }} as s
where s.id not in (select subscription_id from {{ this }} where updated is not null)
```
Fix: `updated_at`, a column of `{{ this }}`, or `s.updated` when the outer row is meant.""",
)

RULES = (LL401, LL402, LL403, LL404, LL405, LL406, LL407, LL408, LL409, LL410)
# Input rules this family reports on models (found rendering and parsing them).
ALSO_REPORTS = (LL003, LL004, LL008)
RULES_BY_CODE = {rule.code: rule for rule in (*RULES, *ALSO_REPORTS)}

AIRBYTE_COLUMNS = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id")
# What Airbyte writes as `_airbyte_meta`: a STRUCT of the sync id and the per-record changes.
AIRBYTE_META_FIELD = {"type": "object", "properties": {"sync_id": {"type": "integer"},
                                                       "changes": {"type": "array"}}}
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
HIVE_COLUMNS = ("year", "month", "day")
_TRUE_OPTION = r"\s*(?:=|:=)\s*(?:true|1)\b"


def check(ctx: CheckContext) -> Iterator[Finding]:
    run = _Run(ctx)
    seen: set[Finding] = set()
    models = [model for model in ctx.repo.models if ctx.in_scope(model.path)]
    for done, model in enumerate(models, 1):
        for finding in run.check_model(model):
            if finding not in seen:
                seen.add(finding)
                yield finding
        run.forget(model)
        ctx.progress(done, len(models))


@dataclass
class _Relation:
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
class _Declared:
    path: str
    hive: bool
    filename: str | None


class _Run:
    """One run of the family: facts loaded once per model, schemas read once."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.repo = ctx.repo
        self.models = {m.name: m for m in ctx.repo.models}
        self._facts: dict[str, dict[str, Any] | None] = {}
        self._outputs: dict[str, dict[str, str] | None] = {}
        self._streams: dict[tuple[str, str], tuple[dict, dict | None, bool] | None] = {}
        self._declared: dict[tuple[str, str], _Declared] | None = None
        self._raw_views: dict[tuple, _Relation] = {}
        self._tag_streams = {
            ctx.config.stream_tag.format(source=s.source, stream=s.name): s
            for s in ctx.repo.streams
        }

    @functools.cached_property
    def conventions(self) -> Conventions:
        """How the repo runs its models (coverage.py): whether per stream (only then is a
        runtime read in a model whose stream cannot be told given no stream's files), and
        with which vars."""
        return Conventions(self.ctx)

    # ---- facts -----------------------------------------------------------------------------

    def facts(self, model: Model) -> dict[str, Any] | None:
        if model.path in self._facts:
            return self._facts[model.path]
        self._facts[model.path] = None  # a ref cycle sees "unknown"
        facts = self.repo.model_facts(model)  # computed once per run, cached by content
        self._facts[model.path] = facts
        return facts

    def forget(self, model: Model) -> None:
        """Drop a checked model's facts: on big repos, holding all of them costs 100+ MB. Its
        outputs stay memoised for the models that ref it; the facts come back from the cache."""
        self._facts.pop(model.path, None)

    # ---- one model -------------------------------------------------------------------------

    def check_model(self, model: Model) -> Iterator[Finding]:
        facts = self.facts(model)
        if facts is None:
            return
        for problem in facts["problems"]:
            rule = RULES_BY_CODE[problem["code"]]
            yield rule.finding(model.path, problem["line"], problem["column"], problem["message"],
                               hint=_problem_hint(problem["code"]))
        for call in facts["calls"]:
            yield from self.check_call(model, call)
        own = self.own_stream(model, facts)
        for rendering in facts["renderings"]:
            if rendering is None:
                continue
            # The model's SQL, then the SQL its run_query()/statement calls run at compile time.
            broken = frozenset(p["line"] for p in facts["problems"] if p["code"] == "LL004")
            for sql in (rendering, *(q for q in rendering.get("queries", ()) if q is not None)):
                yield from self.check_rendering(model, own, sql, broken)

    def check_rendering(
        self, model: Model, own: Stream | None, rendering: dict[str, Any], broken: frozenset[int]
    ) -> Iterator[Finding]:
        relations = {
            rel_id: self.relation(model, own, entry)
            for rel_id, entry in rendering["relations"].items()
        }
        for entry in rendering["relations"].values():
            yield from self.check_raw_path(model, own, entry, broken)
        findings, failing = self.check_aggregates(model, rendering, relations)
        yield from findings
        for read in rendering["reads"]:
            if read.get("aggregate") not in failing:
                yield from self.check_read(model, read, relations)

    def check_call(self, model: Model, call: dict[str, Any]) -> Iterator[Finding]:
        args = call["args"]
        where = (model.path, call["line"], call["column"])
        if call["kind"] == "files" and args:
            yield from self.check_runtime_var(model, where, args[0])
        if call["kind"] == "ref" and args:
            name = args[-1]
            if name not in self.models:
                yield LL403.finding(
                    *where, f"ref('{name}') names no model",
                    hint=_did_you_mean(name, list(self.models), "model")
                    or f"no `{name}.sql` in the model folders {', '.join(self.ctx.config.models)}",
                )
        elif call["kind"] == "source" and len(args) >= 2:
            source, table = args[0], args[1]
            declared = self.declared()
            if (source, table) in declared:
                return
            tables = sorted(t for s, t in declared if s == source)
            if tables:
                hint = _did_you_mean(table, tables, "table") or (
                    f"declare `{table}` under `tables:` of source `{source}` in "
                    f"{declared[(source, tables[0])].path}"
                )
                message = f"source('{source}', '{table}'): source `{source}` declares no table `{table}`"
            else:
                sources = sorted({s for s, _ in declared})
                hint = _did_you_mean(source, sources, "source") or (
                    f"declare source `{source}` in "
                    f"{self.ctx.config.sources_file.format(source=source)} in its model folder"
                )
                message = f"source('{source}', '{table}'): no sources file declares source `{source}`"
            yield LL404.finding(*where, message, hint=hint)

    def check_runtime_var(
        self, model: Model, where: tuple[str, int | None, int | None], name: str
    ) -> Iterator[Finding]:
        """A var() without default nor project value must be one the orchestrator passes when
        it runs the model."""
        passed = self.conventions.passed_vars(model)
        if passed is None or name in passed:
            return
        listed = ", ".join(f"`{n}`" for n in sorted(passed)) or "none"
        hint = _did_you_mean(name, sorted(passed), "var")
        hint = (hint + " Otherwise " if hint else "") + (
            f"give it a default (`var('{name}', ...)`), set it under `vars:` in "
            f"{self.ctx.config.dbt_project}, or pass it with `--vars` (then list it in "
            "`runtime-vars` if the checker cannot read that)"
        )
        yield LL004.finding(
            *where,
            f"var('{name}') has no default and the orchestrator does not pass it to this model "
            f"(it passes {listed}): `dbt build` fails with \"Required var '{name}' not found\"",
            hint=hint,
        )

    def check_raw_path(
        self, model: Model, own: Stream | None, entry: dict[str, Any],
        broken_lines: frozenset[int | None] = frozenset(),
    ) -> Iterator[Finding]:
        """`broken_lines`: lines with template errors (LL004); what they rendered as is not a
        path anyone wrote, so paths on them are not judged."""
        if entry["kind"] != "file":
            return
        where = (model.path, entry["line"], entry["column"])
        passed = self.conventions.passed_vars(model) if entry.get("runtime") else None
        unpassed = passed is not None and any(
            name and name not in passed for name in entry["runtime"].values())  # LL004 says so
        if entry["files"] and own is None and not unpassed and self.conventions.models_run_per_stream:
            yield LL406.finding(
                *where,
                "read_parquet of a path passed at run time (a var() without default) in a model "
                "whose stream cannot be told",
                hint="Dagster passes the files of the model's stream: name the model "
                "`<layer>_<source>__<stream>` or give it the tag "
                f"`{self.ctx.config.stream_tag}`",
            )
        if entry["line"] in broken_lines:
            return
        for path in entry["paths"]:
            shown = _as_written(path, entry.get("runtime", {}))
            braces = brace_alternatives(path)
            if braces is not None:
                yield LL406.finding(
                    *where, f"read_parquet path '{shown}' uses `{braces}`, which DuckDB globs do "
                    "not expand: it looks for a folder of that literal name",
                    hint="read a list of paths: read_parquet(["
                    + ", ".join(f"'{_as_written(path.replace(braces, a, 1), entry.get('runtime', {}))}'"
                                for a in braces[1:-1].split(",")) + "])",
                )
                continue
            read = path_read(path, self.ctx.config.raw_path, self._stream_keys)
            if read.kind == "glob":
                yield from self.check_glob(where, path, shown, own, read.streams)
                continue
            if read.kind != "stream" or read.named is None:
                if read.kind == "runtime" or has_runtime_value(path):
                    continue  # known only at run time: nothing certain to say
                yield LL406.finding(
                    *where, f"read_parquet path '{shown}' names no stream",
                    hint=f"raw files live under `{self.ctx.config.raw_path}` (raw-path)",
                )
                continue
            source, name = read.named
            stream = self.repo.stream(source, name)
            if stream is None:
                known = [s.name for s in self.repo.streams_of(source)]
                yield LL406.finding(
                    *where, f"read_parquet path '{shown}' names stream {source}.{name}, "
                    "which has no stream config",
                    hint=_did_you_mean(name, known, "stream") or f"no {self.ctx.config.streams}/{source}/{name}.json",
                )
            elif own is not None and stream != own:
                yield LL406.finding(
                    *where, f"read_parquet path '{shown}' reads stream {source}.{name}, "
                    f"but this model's stream is {own.source}.{own.name}",
                    hint=f"read `{self.ctx.config.raw_path.format(source=own.source, stream=own.name)}`, "
                    "or move the model/fix its tag if it belongs to the other stream",
                )

    def check_glob(
        self, where: tuple[str, int | None, int | None], path: str, shown: str,
        own: Stream | None, matched: tuple[tuple[str, str], ...],
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
                f"`{narrowed_glob(path, self.ctx.config.raw_path, own.source, own.name)}`",
            )
        elif not matched:
            yield LL406.finding(
                *where, f"read_parquet glob '{shown}' matches no stream's files",
                hint=f"raw files live under `{self.ctx.config.raw_path}` (raw-path)",
            )
        elif len(matched) > 1:
            target = own or self.repo.stream(*matched[0])
            assert target is not None
            yield LL406.finding(
                *where, f"read_parquet glob '{shown}' matches the files of {len(matched)} streams "
                f"({names}): the model reads them all mixed together",
                hint=f"narrow the glob to {target.source}.{target.name}'s files, e.g. "
                f"`{narrowed_glob(path, self.ctx.config.raw_path, target.source, target.name)}`",
            )

    def check_read(self, model: Model, read: dict[str, Any], relations: dict[str, _Relation]) -> Iterator[Finding]:
        name = read["name"]
        key = name.lower()
        where = (model.path, read["line"], read["column"])
        hidden = _hidden_by(read.get("shadow") or [], relations)
        if hidden is not None:
            # The qualifier is an inner relation's column (a struct), not the outer alias.
            cand, view = hidden
            if cand[2] and view.columns is not None:
                yield from self.check_path(model, read, cand, view)
            return
        if not read["cands"]:
            if read.get("outer") is not None:
                yield from self.correlated(model, read, relations,
                                           (read["outer"][0], read["outer"][1]))
                return
            if read["derived"]:
                return
            scope = read["scope"]
            message = (
                f"column `{name}` does not exist in `{scope}`" if scope
                else f"no relation in the FROM clause has a column `{name}`"
            )
            hint = _did_you_mean(name, read["known"], "column")
            yield LL401.finding(*where, message, hint=hint or _columns_hint(read["known"]))
            return
        views = [(cand, relations.get(cand[0]) or _Relation("unknown", "?")) for cand in read["cands"]]
        having = [(c, v) for c, v in views if v.columns is not None and key in v.columns]
        for cand, view in having:
            if cand[2]:
                yield from self.check_path(model, read, cand, view)
        bound = _binding(read, relations) if "depths" in read else None
        if bound is not None and bound[0] > 0:
            yield from self.correlated(model, read, relations, bound)
            return
        if having or read["derived"] or any(v.columns is None for _, v in views):
            return
        if read.get("outer") is not None:
            return  # bound by the outer relation that has it explicitly (reported above if unknown)
        yield self.missing(model, read, views[0][1], where)

    # ---- names a subquery takes from an outer query ----------------------------------------

    def check_aggregates(self, model: Model, rendering: dict[str, Any],
                         relations: dict[str, _Relation]) -> tuple[list[Finding], set[str]]:
        """LL409 for each aggregate in a subquery whose columns all bind in an outer query where
        DuckDB allows no such aggregate; returns the findings and the aggregates' ids (their
        reads say no more)."""
        reads: dict[str, list[dict[str, Any]]] = {}
        for read in rendering["reads"]:
            if read.get("aggregate") is not None:
                reads.setdefault(read["aggregate"], []).append(read)
        findings: list[Finding] = []
        failing: set[str] = set()
        for aggregate in rendering.get("aggregates", ()):
            # (depth, outer label, line, column, read or None for a qualified column)
            fixed = aggregate["fixed"]
            if any(_hidden_by(f[4] if len(f) > 4 else [], relations) for f in fixed):
                continue  # a qualifier is (or may be) a struct column of the subquery's own
            columns: list[tuple[int, str, int | None, int | None, dict[str, Any] | None]] = [
                (depth, label, line, column, None) for depth, label, line, column, *_ in fixed
            ]
            for read in reads.get(aggregate["id"], ()):
                bound = _binding(read, relations)
                if bound is None or bound[0] == 0:
                    break  # unknown, missing (reported as such) or its own query's column
                columns.append((bound[0], bound[1], read["line"], read["column"], read))
            else:
                if not columns:
                    continue
                depth = min(c[0] for c in columns)
                function = aggregate["function"]
                consequence = _aggregate_consequence(aggregate, depth, function)
                if consequence is None:
                    continue
                first = min(columns, key=lambda c: (c[2] or 0, c[3] or 0))
                outer = _outer_label(first[1], relations)
                if first[4] is not None and first[4].get("fromless"):
                    read = first[4]
                    message = (f"`{read['name']}` resolves to the outer {outer} (the subquery has no "
                               f"FROM clause), {consequence}")
                    hint = "aggregate in a subquery with a FROM clause of its own"
                elif first[4] is not None:
                    read = first[4]
                    inner = _inner_label(read, relations)
                    message = (f"`{read['name']}` is not a column of {inner}; it resolves to the "
                               f"outer {outer}, {consequence}")
                    hint = (_did_you_mean(read["name"], _inner_columns(read, relations), "column")
                            or f"aggregate a column of {inner}")
                else:
                    message = f"`{function}(...)` reads only columns of the outer {outer}, {consequence}"
                    hint = "aggregate a column of the subquery's own relation"
                failing.add(aggregate["id"])
                findings.append(LL409.finding(model.path, first[2], first[3], message, hint=hint))
        return findings, failing

    def correlated(self, model: Model, read: dict[str, Any], relations: dict[str, _Relation],
                   bound: tuple[int, str]) -> Iterator[Finding]:
        """LL410, unless the subquery has no FROM clause (an outer column is all it can mean)."""
        if read.get("fromless"):
            return
        name = read["name"]
        inner = _inner_label(read, relations)
        outer = _outer_label(bound[1], relations)
        if bound[1] in relations:  # an outer relation without an alias
            qualify = f"give the outer {outer} an alias and qualify `{name}` with it"
        else:
            qualify = f"qualify it: `{bound[1]}.{name}`"
        hint = _did_you_mean(name, _inner_columns(read, relations), "column")
        yield LL410.finding(
            model.path, read["line"], read["column"],
            f"`{name}` is not a column of {inner}; it resolves to the outer {outer}",
            hint=hint or f"if the outer column is meant, {qualify}",
        )


    def missing(self, model: Model, read: dict[str, Any], view: _Relation, where: tuple) -> Finding:
        name = read["name"]
        key = name.lower()
        assert view.columns is not None
        if view.kind == "model":
            return LL405.finding(
                *where, f"column `{name}` is not output by {view.label}",
                hint=_did_you_mean(name, list(view.columns.values()), "column")
                or _columns_hint(list(view.columns.values())),
            )
        stream = view.stream
        assert stream is not None
        if view.offered is not None and key in view.offered:
            config = stream.config_path
            if view.dlt:
                regenerate = "(the dlt pipeline keeps only the listed fields)"
            else:
                regenerate = f"and regenerate the catalog (`python {self.ctx.config.generator}`)"
            return LL402.finding(
                *where,
                f"column `{name}` is offered by the source but not selected in stream "
                f"{stream.source}.{stream.name}, so it never lands",
                hint=f"add `{view.offered[key]}` to `fields` in {config} {regenerate}",
            )
        return LL401.finding(
            *where, f"column `{name}` does not exist in {view.label}", hint=self.unknown_hint(name, view)
        )

    def unknown_hint(self, name: str, view: _Relation) -> str:
        key = name.lower()
        if key in HIVE_COLUMNS and not view.hive:
            return f"`{key}` is a hive partition column: it exists only with hive_partitioning=true on {view.via}"
        if key == "filename" and view.filename is None:
            return f"`filename` exists only with filename=true on {view.via}"
        if key in AIRBYTE_COLUMNS and view.dlt:
            return "this stream is loaded by dlt (\"connector\": \"dlt\"): its metadata columns are " + ", ".join(f"`{c}`" for c in DLT_COLUMNS)
        if key in DLT_COLUMNS and not view.dlt:
            return "this stream is loaded by Airbyte: its metadata columns are " + ", ".join(f"`{c}`" for c in AIRBYTE_COLUMNS)
        names = list((view.columns or {}).values()) + list((view.offered or {}).values())
        return _did_you_mean(name, names, "column") or f"add `{name}` to `fields` in {view.stream.config_path if view.stream else 'the stream config'}"

    def check_path(self, model: Model, read: dict[str, Any], cand: list, view: _Relation) -> Iterator[Finding]:
        steps = cand[2]
        if view.kind != "raw" or not steps or view.fields is None:
            return
        node = view.fields.get(cand[1].lower())
        walked: list[str] = [cand[1]]
        struct = True  # every step so far is struct access into a STRUCT (not a JSON path)
        items_map = False  # `node` is an array's `items` written as a map of field names
        for step_name, kind, line, column in steps:
            if not isinstance(node, dict):
                return
            if kind == "index":
                node = node.get("items")
                # A discovery step may write `items` as a map of field names, which the
                # generator turns into an object with those properties (a STRUCT).
                items_map = is_field_map(node)
                walked.append("[]")
                continue
            properties = node if items_map else node.get("properties")
            if not isinstance(properties, dict) or not properties:
                return
            struct = struct and kind != "json" and (items_map or _stored_as_struct(node))
            items_map = False
            lowered = {str(k).lower(): k for k in properties}
            if step_name.lower() not in lowered:
                stream = view.stream
                assert stream is not None
                where_path = ".".join(walked).replace(".[]", "[]")
                hint = _did_you_mean(step_name, list(properties), "key") or _columns_hint(list(properties), "declared keys")
                where = (model.path, line if line is not None else read["line"],
                         column if column is not None else read["column"])
                stream_name = f"{stream.source}.{stream.name}"
                if struct:
                    rule, message = LL408, (f"`{where_path}` in stream {stream_name} is a STRUCT "
                                            f"without a field `{step_name}`: DuckDB fails to bind it")
                else:
                    rule, message = LL407, (f"`{where_path}` in stream {stream_name} declares no "
                                            f"nested field `{step_name}`")
                yield rule.finding(*where, message, hint=hint)
                return
            node = properties[lowered[step_name.lower()]]
            walked.append(step_name)

    # ---- relations -------------------------------------------------------------------------

    def relation(self, model: Model, own: Stream | None, entry: dict[str, Any]) -> _Relation:
        kind, args = entry["kind"], entry["args"]
        if kind == "source" and len(args) >= 2:
            declared = self.declared().get((args[0], args[1]))
            stream = self.repo.stream(args[0], args[1])
            if declared is None or stream is None:
                return _Relation("unknown", f"source('{args[0]}', '{args[1]}')")
            return self.raw(stream, declared.hive, declared.filename,
                            f"the external_location of source `{args[0]}` in {declared.path}")
        if kind == "file":
            streams = set()
            if entry["files"]:
                streams.add(own)
            for path in entry["paths"]:
                streams.add(self.path_target(path, own))
            if len(streams) != 1 or None in streams:
                return _Relation("unknown", "read_parquet(...)")
            (stream,) = streams
            if own is not None and stream != own:
                # LL406 reports the wrong path; its columns are judged once it reads the right one.
                return _Relation("unknown", "read_parquet(...)")
            return self.raw(stream, entry["hive"], entry["filename"], "that read_parquet(...)")
        if kind == "ref" and args:
            upstream = self.models.get(args[-1])
            columns = self.outputs(upstream) if upstream is not None else None
            return _Relation("model" if columns is not None else "unknown", f"model `{args[-1]}`", columns)
        if kind == "this":
            columns = self.outputs(model)
            if columns is not None and "rowid" not in columns:
                # `{{ this }}` is a table: DuckDB gives every table a `rowid` pseudo-column.
                columns = {**columns, "rowid": "rowid"}
            return _Relation("model" if columns is not None else "unknown", f"model `{model.name}` ({{{{ this }}}})", columns)
        return _Relation("unknown", entry["args"][0] if entry["args"] else "?")

    def raw(self, stream: Stream, hive: bool, filename: str | None, via: str) -> _Relation:
        key = (stream.source, stream.name, hive, filename, via)
        if key not in self._raw_views:
            self._raw_views[key] = self._raw(stream, hive, filename, via)
        return self._raw_views[key]

    def _raw(self, stream: Stream, hive: bool, filename: str | None, via: str) -> _Relation:
        loaded = self.stream_fields(stream)
        if loaded is None:
            return _Relation("unknown", f"stream {stream.source}.{stream.name}")
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
        return _Relation(
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
            if not isinstance(fields, dict):
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
        rendering = next((r for r in facts["renderings"] if r is not None and r["outputs"]), None)
        if rendering is None or rendering["outputs"]["opaque"]:
            return None
        own = self.own_stream(model, facts)
        columns = {name.lower(): name for name in rendering["outputs"]["names"]}
        for rel_id, excluded in rendering["outputs"]["stars"]:
            entry = rendering["relations"].get(rel_id)
            view = self.relation(model, own, entry) if entry is not None else None
            if view is None or view.columns is None:
                return None
            skip = {e.lower() for e in excluded}
            for key, name in view.columns.items():
                if key not in skip:
                    columns.setdefault(key, name)
        return columns

    # ---- the repo's view of streams --------------------------------------------------------

    def own_stream(self, model: Model, facts: dict[str, Any]) -> Stream | None:
        """The stream a model is for: its per-stream tag, else its name `<layer>_<src>__<stream>`."""
        for tag in facts["config"]["tags"]:
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
        read = path_read(path, self.ctx.config.raw_path, self._stream_keys)
        if read.kind == "stream" and read.named is not None:
            return self.repo.stream(*read.named)
        if read.kind == "glob" and len(read.streams) == 1:
            return self.repo.stream(*read.streams[0])
        if read.kind == "runtime" and is_runtime_value(path):
            return own
        return None

    @functools.cached_property
    def _stream_keys(self) -> list[tuple[str, str]]:
        return [(s.source, s.name) for s in self.repo.streams]

    def declared(self) -> dict[tuple[str, str], _Declared]:
        """(source, table) -> where it is declared, from every sources file in the model folders."""
        if self._declared is None:
            self._declared = {}
            for path in self.repo.model_yaml_files:
                doc = self.repo.yaml(path)
                data = doc.data if doc is not None else None
                if isinstance(data, dict):
                    self._declared.update(_declared_tables(path, data))
        return self._declared


_FAILING_CLAUSES = {"where": "WHERE clause", "join": "JOIN condition", "group": "GROUP BY clause"}
# Clauses where an outer aggregate makes the query an aggregate query: wrong when its other
# columns are not grouped.
_GROUPING_CLAUSES = {"select": "select list", "order": "ORDER BY", "qualify": "QUALIFY",
                     "having": "HAVING clause"}


def _aggregate_consequence(aggregate: dict[str, Any], depth: int, function: str) -> str | None:
    """Why DuckDB rejects an aggregate of the query `depth` levels out, or None if it does not."""
    clauses = aggregate["clauses"]
    where = clauses[depth] if depth < len(clauses) else ""
    if where in _FAILING_CLAUSES:
        return (f"so `{function}(...)` aggregates the outer query inside its {_FAILING_CLAUSES[where]}, "
                "where DuckDB allows no aggregate: the model fails to bind")
    if where == "lateral":
        return (f"so `{function}(...)` aggregates the outer query inside a LATERAL subquery, "
                "where DuckDB allows no aggregate: the model fails to bind")
    ungrouped = aggregate.get("ungrouped") or []
    if where in _GROUPING_CLAUSES and depth < len(ungrouped) and ungrouped[depth]:
        return (f"so `{function}(...)` in its {_GROUPING_CLAUSES[where]} makes the outer query an "
                "aggregate, whose other columns are not in a GROUP BY: the model fails to bind")
    return None


def _hidden_by(shadow: list, relations: dict[str, _Relation]) -> tuple[list, _Relation] | None:
    """The inner relation whose column, named like the qualifier of an outer alias, DuckDB binds
    instead of the alias (or any relation with unknown columns, which might); None if none."""
    unknown = None
    for cand in shadow:
        view = relations.get(cand[0])
        if view is None or view.columns is None:
            unknown = (cand, view or _Relation("unknown", "?"))
        elif cand[1].lower() in view.columns:
            return cand, view
    return unknown



def _binding(read: dict[str, Any], relations: dict[str, _Relation]) -> tuple[int, str] | None:
    """(scope depth, FROM item label) where an unqualified name binds: the first level (0: the
    read's own FROM clause) with a relation that has it, else the outer relation that names it
    explicitly; None when a relation on the way has unknown columns, or nothing has it."""
    key = read["name"].lower()
    depths = read.get("depths") or [0] * len(read["cands"])
    labels = read.get("labels") or [""] * len(read["cands"])
    level: int | None = None
    found: tuple[int, str] | None = None
    for cand, depth, label in zip(read["cands"], depths, labels):
        if level is not None and depth != level and found is not None:
            break
        level = depth
        view = relations.get(cand[0])
        if view is None or view.columns is None:
            return None
        if key in view.columns and found is None:
            found = (depth, label or cand[0])
    if found is not None:
        return found
    outer = read.get("outer")
    return (outer[0], outer[1]) if outer is not None else None


def _outer_label(label: str, relations: dict[str, _Relation]) -> str:
    """How a message names an outer FROM item: its alias, or the relation when it has none (its
    label is then the renderer's placeholder)."""
    view = relations.get(label)
    return view.label if view is not None else f"`{label}`"


def _inner_label(read: dict[str, Any], relations: dict[str, _Relation]) -> str:
    """The relations of the subquery's own FROM clause, as the message names them."""
    depths = read.get("depths") or []
    labels = [
        (relations.get(cand[0]) or _Relation("unknown", "?")).label
        for cand, depth in zip(read["cands"], depths) if depth == 0
    ]
    if labels:
        return " or ".join(dict.fromkeys(labels))
    return f"`{read['scope']}`" if read["scope"] else "the subquery's FROM clause"


def _inner_columns(read: dict[str, Any], relations: dict[str, _Relation]) -> list[str]:
    names: list[str] = list(read["known"])
    for cand, depth in zip(read["cands"], read.get("depths") or []):
        view = relations.get(cand[0])
        if depth == 0 and view is not None and view.columns is not None:
            names.extend(view.columns.values())
    return names


def _stored_as_struct(node: dict[str, Any]) -> bool:
    """Whether Airbyte's Parquet writer stores this field as a STRUCT: its type is `object` (alone
    or with `null`) and it declares properties. Objects without properties land as JSON text, and
    a field without an explicit type is a string to the generator."""
    kind = node.get("type")
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    return kinds == ["object"]


def _declared_tables(path: str, data: dict[str, Any]) -> dict[tuple[str, str], _Declared]:
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
                out[(source["name"], table["name"])] = _Declared(path, hive, filename)
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


def _as_written(path: str, runtime: dict[str, str]) -> str:
    """`path` with each runtime placeholder shown as the var() (or env_var()) it stands for."""
    for placeholder in runtime_placeholders(path):
        name = runtime.get(placeholder, "")
        written = f'{{{{ var("{name}") }}}}' if name else "{{ env_var(...) }}"
        path = path.replace(placeholder, written)
    return path


def _did_you_mean(name: str, options: list[str], what: str) -> str:
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"`{lowered[c]}`" for c in close) + "?"


def _columns_hint(names: list[str], what: str = "its columns") -> str:
    if not names:
        return ""
    shown = ", ".join(f"`{n}`" for n in names[:12])
    more = f" and {len(names) - 12} more" if len(names) > 12 else ""
    return f"{what}: {shown}{more}"


def _problem_hint(code: str) -> str:
    if code == "LL008":
        return "split the model or simplify it (a very long chain of conditions, deep nesting)"
    if code == "LL003":
        return "fix the SQL at this position (the model's columns cannot be checked until it parses)"
    return "fix the template; columns are checked where the rest of the model allows"
