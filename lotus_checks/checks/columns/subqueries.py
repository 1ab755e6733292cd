"""LL409, LL410: names and aggregates a subquery takes from an outer query."""

from __future__ import annotations

from collections.abc import Iterator

from lotus_checks.checks.columns.hints import did_you_mean
from lotus_checks.checks.columns.relations import RelationView
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Model
from lotus_checks.sql.facts import Aggregate
from lotus_checks.sql.facts import ColumnRead
from lotus_checks.sql.facts import Origin
from lotus_checks.sql.facts import Rendering

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


def check_aggregates(model: Model, rendering: Rendering, relations: dict[str, RelationView]
                     ) -> tuple[list[Finding], set[str]]:
    """LL409 for each aggregate in a subquery whose columns all bind in an outer query where
    DuckDB allows no such aggregate; returns the findings and the aggregates' ids (their
    reads say no more)."""
    reads: dict[str, list[ColumnRead]] = {}
    for read in rendering.reads:
        if read.aggregate is not None:
            reads.setdefault(read.aggregate, []).append(read)
    findings: list[Finding] = []
    failing: set[str] = set()
    for aggregate in rendering.aggregates:
        # (depth, outer label, line, column, read or None for a qualified column)
        fixed = aggregate.fixed
        if any(hidden_by(f.shadow, relations) for f in fixed):
            continue  # a qualifier is (or may be) a struct column of the subquery's own
        columns: list[tuple[int, str, int | None, int | None, ColumnRead | None]] = [
            (f.depth, f.label, f.line, f.column, None) for f in fixed
        ]
        for read in reads.get(aggregate.id, ()):
            bound = binding(read, relations)
            if bound is None or bound[0] == 0:
                break  # unknown, missing (reported as such) or its own query's column
            columns.append((bound[0], bound[1], read.line, read.column, read))
        else:
            if not columns:
                continue
            depth = min(c[0] for c in columns)
            function = aggregate.function
            consequence = _aggregate_consequence(aggregate, depth, function)
            if consequence is None:
                continue
            first = min(columns, key=lambda c: (c[2] or 0, c[3] or 0))
            outer = _outer_label(first[1], relations)
            if first[4] is not None and first[4].fromless:
                read = first[4]
                message = (f"`{read.name}` resolves to the outer {outer} (the subquery has no "
                           f"FROM clause), {consequence}")
                hint = "aggregate in a subquery with a FROM clause of its own"
            elif first[4] is not None:
                read = first[4]
                inner = _inner_label(read, relations)
                message = (f"`{read.name}` is not a column of {inner}; it resolves to the "
                           f"outer {outer}, {consequence}")
                hint = (did_you_mean(read.name, _inner_columns(read, relations), "column")
                        or f"aggregate a column of {inner}")
            else:
                message = f"`{function}(...)` reads only columns of the outer {outer}, {consequence}"
                hint = "aggregate a column of the subquery's own relation"
            failing.add(aggregate.id)
            findings.append(LL409.finding(model.path, first[2], first[3], message, hint=hint))
    return findings, failing


def correlated(model: Model, read: ColumnRead, relations: dict[str, RelationView],
               bound: tuple[int, str]) -> Iterator[Finding]:
    """LL410, unless the subquery has no FROM clause (an outer column is all it can mean)."""
    if read.fromless:
        return
    name = read.name
    inner = _inner_label(read, relations)
    outer = _outer_label(bound[1], relations)
    if bound[1] in relations:  # an outer relation without an alias
        qualify = f"give the outer {outer} an alias and qualify `{name}` with it"
    else:
        qualify = f"qualify it: `{bound[1]}.{name}`"
    hint = did_you_mean(name, _inner_columns(read, relations), "column")
    yield LL410.finding(
        model.path, read.line, read.column,
        f"`{name}` is not a column of {inner}; it resolves to the outer {outer}",
        hint=hint or f"if the outer column is meant, {qualify}",
    )


_FAILING_CLAUSES = {"where": "WHERE clause", "join": "JOIN condition", "group": "GROUP BY clause"}
# Clauses where an outer aggregate makes the query an aggregate query: wrong when its other
# columns are not grouped.
_GROUPING_CLAUSES = {"select": "select list", "order": "ORDER BY", "qualify": "QUALIFY",
                     "having": "HAVING clause"}


def _aggregate_consequence(aggregate: Aggregate, depth: int, function: str) -> str | None:
    """Why DuckDB rejects an aggregate of the query `depth` levels out, or None if it does not."""
    clauses = aggregate.clauses
    where = clauses[depth] if depth < len(clauses) else ""
    if where in _FAILING_CLAUSES:
        return (f"so `{function}(...)` aggregates the outer query inside its {_FAILING_CLAUSES[where]}, "
                "where DuckDB allows no aggregate: the model fails to bind")
    if where == "lateral":
        return (f"so `{function}(...)` aggregates the outer query inside a LATERAL subquery, "
                "where DuckDB allows no aggregate: the model fails to bind")
    ungrouped = aggregate.ungrouped
    if where in _GROUPING_CLAUSES and depth < len(ungrouped) and ungrouped[depth]:
        return (f"so `{function}(...)` in its {_GROUPING_CLAUSES[where]} makes the outer query an "
                "aggregate, whose other columns are not in a GROUP BY: the model fails to bind")
    return None


def hidden_by(shadow: tuple[Origin, ...], relations: dict[str, RelationView]
               ) -> tuple[Origin, RelationView] | None:
    """The inner relation whose column, named like the qualifier of an outer alias, DuckDB binds
    instead of the alias (or any relation with unknown columns, which might); None if none."""
    unknown = None
    for cand in shadow:
        view = relations.get(cand.rel)
        if view is None or view.columns is None:
            unknown = (cand, view or RelationView("unknown", "?"))
        elif cand.column.lower() in view.columns:
            return cand, view
    return unknown


def binding(read: ColumnRead, relations: dict[str, RelationView]) -> tuple[int, str] | None:
    """(scope depth, FROM item label) where an unqualified name binds: the first level (0: the
    read's own FROM clause) with a relation that has it, else the outer relation that names it
    explicitly; None when a relation on the way has unknown columns, or nothing has it."""
    key = read.name.lower()
    depths = read.depths or (0,) * len(read.candidates)
    labels = read.labels or ("",) * len(read.candidates)
    level: int | None = None
    found: tuple[int, str] | None = None
    for cand, depth, label in zip(read.candidates, depths, labels):
        if level is not None and depth != level and found is not None:
            break
        level = depth
        view = relations.get(cand.rel)
        if view is None or view.columns is None:
            return None
        if key in view.columns and found is None:
            found = (depth, label or cand.rel)
    if found is not None:
        return found
    return read.outer


def _outer_label(label: str, relations: dict[str, RelationView]) -> str:
    """How a message names an outer FROM item: its alias, or the relation when it has none (its
    label is then the renderer's placeholder)."""
    view = relations.get(label)
    return view.label if view is not None else f"`{label}`"


def _inner_label(read: ColumnRead, relations: dict[str, RelationView]) -> str:
    """The relations of the subquery's own FROM clause, as the message names them."""
    labels = [
        (relations.get(cand.rel) or RelationView("unknown", "?")).label
        for cand, depth in zip(read.candidates, read.depths) if depth == 0
    ]
    if labels:
        return " or ".join(dict.fromkeys(labels))
    return f"`{read.scope}`" if read.scope else "the subquery's FROM clause"


def _inner_columns(read: ColumnRead, relations: dict[str, RelationView]) -> list[str]:
    names: list[str] = list(read.known)
    for cand, depth in zip(read.candidates, read.depths):
        view = relations.get(cand.rel)
        if depth == 0 and view is not None and view.columns is not None:
            names.extend(view.columns.values())
    return names
