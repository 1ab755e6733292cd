"""LL401, LL402, LL405, LL407, LL408: each column a model reads, and each struct or JSON path
into it, against what its relation offers."""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

from lotus_checks.checks.columns.hints import columns_hint
from lotus_checks.checks.columns.hints import did_you_mean
from lotus_checks.checks.columns.relations import AIRBYTE_COLUMNS
from lotus_checks.checks.columns.relations import DLT_COLUMNS
from lotus_checks.checks.columns.relations import HIVE_COLUMNS
from lotus_checks.checks.columns.relations import Place
from lotus_checks.checks.columns.relations import RelationView
from lotus_checks.checks.columns.relations import Schemas
from lotus_checks.checks.columns.subqueries import binding
from lotus_checks.checks.columns.subqueries import correlated
from lotus_checks.checks.columns.subqueries import hidden_by
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.lake.catalog_schema import is_field_map
from lotus_checks.repo.model import Model
from lotus_checks.sql.facts import ColumnRead
from lotus_checks.sql.facts import Origin

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


def check_read(schemas: Schemas, model: Model, read: ColumnRead,
               relations: dict[str, RelationView]) -> Iterator[Finding]:
    name = read.name
    key = name.lower()
    candidates = read.candidates
    if len(candidates) == 1 and not read.shadow and not read.correlated:
        # Most reads: one relation it may come from, nothing an outer query binds. Having the
        # column, only a path into it is left to judge (the general case below says the same).
        view = relations.get(candidates[0].rel)
        if view is not None and view.columns is not None and key in view.columns:
            if candidates[0].steps:
                yield from _check_path(model, read, candidates[0], view)
            return
    where = (model.path, read.line, read.column)
    hidden = hidden_by(read.shadow, relations)
    if hidden is not None:
        # The qualifier is an inner relation's column (a struct), not the outer alias.
        cand, view = hidden
        if cand.steps and view.columns is not None:
            yield from _check_path(model, read, cand, view)
        return
    if not read.candidates:
        if read.outer is not None:
            yield from correlated(model, read, relations, read.outer)
            return
        if read.derived:
            return
        scope = read.scope
        message = (
            f"column `{name}` does not exist in `{scope}`" if scope
            else f"no relation in the FROM clause has a column `{name}`"
        )
        hint = did_you_mean(name, list(read.known), "column")
        yield LL401.finding(*where, message, hint=hint or columns_hint(list(read.known)))
        return
    views = [(cand, relations.get(cand.rel) or RelationView("unknown", "?")) for cand in read.candidates]
    having = [(c, v) for c, v in views if v.columns is not None and key in v.columns]
    for cand, view in having:
        if cand.steps:
            yield from _check_path(model, read, cand, view)
    bound = binding(read, relations) if read.correlated else None
    if bound is not None and bound[0] > 0:
        yield from correlated(model, read, relations, bound)
        return
    if having or read.derived or any(v.columns is None for _, v in views):
        return
    if read.outer is not None:
        return  # bound by the outer relation that has it explicitly (reported above if unknown)
    yield _missing(schemas, read, views[0][1], where)


def _missing(schemas: Schemas, read: ColumnRead, view: RelationView, where: Place) -> Finding:
    name = read.name
    key = name.lower()
    assert view.columns is not None
    if view.kind == "model":
        return LL405.finding(
            *where, f"column `{name}` is not output by {view.label}",
            hint=did_you_mean(name, list(view.columns.values()), "column")
            or columns_hint(list(view.columns.values())),
        )
    stream = view.stream
    assert stream is not None
    if view.offered is not None and key in view.offered:
        config = stream.config_path
        if view.dlt:
            regenerate = "(the dlt pipeline keeps only the listed fields)"
        else:
            regenerate = f"and regenerate the catalog (`python {schemas.ctx.config.generator}`)"
        return LL402.finding(
            *where,
            f"column `{name}` is offered by the source but not selected in stream "
            f"{stream.source}.{stream.name}, so it never lands",
            hint=f"add `{view.offered[key]}` to `fields` in {config} {regenerate}",
        )
    return LL401.finding(
        *where, f"column `{name}` does not exist in {view.label}", hint=_unknown_hint(name, view)
    )


def _unknown_hint(name: str, view: RelationView) -> str:
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
    return did_you_mean(name, names, "column") or f"add `{name}` to `fields` in {view.stream.config_path if view.stream else 'the stream config'}"


def _check_path(model: Model, read: ColumnRead, cand: Origin, view: RelationView
               ) -> Iterator[Finding]:
    steps = cand.steps
    if view.kind != "raw" or not steps or view.fields is None:
        return
    node = view.fields.get(cand.column.lower())
    walked: list[str] = [cand.column]
    struct = True  # every step so far is struct access into a STRUCT (not a JSON path)
    items_map = False  # `node` is an array's `items` written as a map of field names
    for step in steps:
        step_name, kind = step.name, step.kind
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
            hint = did_you_mean(step_name, list(properties), "key") or columns_hint(list(properties), "declared keys")
            where = (model.path, step.line if step.line is not None else read.line,
                     step.column if step.column is not None else read.column)
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


def _stored_as_struct(node: dict[str, Any]) -> bool:
    """Whether Airbyte's Parquet writer stores this field as a STRUCT: its type is `object` (alone
    or with `null`) and it declares properties. Objects without properties land as JSON text, and
    a field without an explicit type is a string to the generator."""
    kind = node.get("type")
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    return kinds == ["object"]
