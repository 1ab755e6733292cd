"""Column resolution: which relation every column reference of a DuckDB query reads from.

The walk is our own (sqlglot's `qualify` stops at the first unknown column, gives no positions and
skips QUALIFY/HAVING). It knows nothing about stream configs: a column read through `select *`
from a raw relation is recorded with its *candidate* relations, and the comparison against the
schemas happens later (so facts can be cached independently of stream configs).

Scoping follows DuckDB:
- a qualifier that names a table alias in scope picks that relation; otherwise the first part is a
  column and the rest is struct access (`customer.id`);
- an unqualified name is looked up in the innermost FROM clause first, then outwards (correlated
  subqueries); several relations offering it explicitly is ambiguous (DuckDB's problem, not ours);
- select-list aliases are visible in WHERE/GROUP BY/HAVING/QUALIFY/ORDER BY and to later select
  items; lambda parameters shadow everything inside the lambda body;
- an aggregate whose columns all come from an outer query belongs to that query (and is an error
  there in WHERE, JOIN ON and GROUP BY): each aggregate records where its columns bind.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

# Table functions whose first argument is a file path (or list of paths): raw reads.
FILE_READERS = frozenset(
    {
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_csv",
        "read_csv_auto",
    }
)
ARRAY_STEP = "[]"


@dataclass(frozen=True)
class Step:
    """One part of a column chain: a name (column, struct field, JSON key) or an array index."""

    name: str
    offset: int | None  # in the rendered SQL; None when unknown
    # "name" (`a.b`), "key" (`a['b']`, `struct_extract(a, 'b')`), "json" (a JSON path key), "index"
    kind: str = "name"


@dataclass(frozen=True)
class Star:
    """`select *` over a base relation: every column it has, minus `exclude`."""

    rel: str
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Origin:
    """A column of a base relation, possibly with a struct/JSON path into it."""

    rel: str
    column: str
    path: tuple[Step, ...] = ()


@dataclass
class Source:
    """What a FROM item (or a query's output) offers.

    `names` maps lower-cased explicit column names to the base columns they pass through (empty
    for computed columns); `stars` stand for every column of a base relation; `opaque` sources
    (unknown tables, table functions) offer any name.
    """

    label: str
    names: dict[str, tuple[Origin, ...]] = field(default_factory=dict)
    display: list[str] = field(default_factory=list)
    stars: tuple[Star, ...] = ()
    opaque: bool = False

    def add(self, name: str, origins: tuple[Origin, ...] = ()) -> None:
        key = name.lower()
        if key not in self.names:
            self.display.append(name)
        self.names[key] = origins


@dataclass(frozen=True)
class ColumnRead:
    """A column reference that needs a schema to judge.

    `candidates`: the base relations that may provide `name` (any one is enough; empty means no
    relation in scope can, so the reference is wrong whatever the schemas say). `derived` reads
    only carry a struct/JSON path: the column itself is checked where it was first read.
    """

    name: str
    offset: int
    candidates: tuple[Origin, ...]
    derived: bool = False
    scope: str = ""
    known: tuple[str, ...] = ()
    # Unqualified names: the scope depth (0: the read's own FROM clause, 1: the query around it,
    # ...) and FROM item label of each candidate, and a relation further out that has the name
    # explicitly, (depth, label), where it binds when no candidate before it has the column.
    depths: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    outer: tuple[int, str] | None = None
    aggregate: int | None = None  # the aggregate (`Aggregate.id`) the read is an argument of
    # A qualified read through an outer table alias: columns of inner relations named like the
    # qualifier. When one of them exists, DuckDB reads that (struct) column instead.
    shadow: tuple[Origin, ...] = ()
    fromless: bool = False  # the read's own query has no FROM clause: only an outer one can bind it


@dataclass(frozen=True)
class Aggregate:
    """An aggregate call none of whose columns is certainly its own query's.

    Its columns are the reads that name it (`ColumnRead.aggregate`), bound by the schemas, and
    `fixed`: columns that bind further out through a table alias, (depth, label, offset, shadow)
    (`shadow` as in `ColumnRead`). `clauses` names the clause each enclosing query level holds the
    subquery in ("where", "join", "group", "select", "lateral", ...); `ungrouped` says, per level,
    whether that query has no GROUP BY and reads columns outside aggregates (so an aggregate
    added to it leaves those columns ungrouped)."""

    id: int
    function: str
    clauses: tuple[str, ...]
    fixed: tuple[tuple[int, str, int | None, tuple[Origin, ...]], ...] = ()
    ungrouped: tuple[bool, ...] = ()
    # Where the rendered SQL spells the function, when sqlglot renamed it (`list` is ARRAY_AGG).
    written: tuple[int, int] | None = None


@dataclass
class _Query:
    """What the whole of one SELECT turns out to be, known only once it is walked."""

    grouped: bool
    loose: bool = False  # reads a column outside any aggregate in its select list, ORDER BY, ...


@dataclass
class _Collector:
    """The aggregate call being visited."""

    id: int
    local: bool = False  # a column certainly binds in the aggregate's own query
    fixed: list[tuple[int, str, int | None, tuple[Origin, ...]]] = field(default_factory=list)


@dataclass(frozen=True)
class RelationRead:
    """A relation in a FROM clause: a placeholder table (source/ref/this), a file read, a table."""

    id: str
    kind: str  # "placeholder" | "file" | "table"
    name: str
    offset: int | None
    paths: tuple[str, ...] = ()
    hive: bool = False
    filename: str | None = None


@dataclass
class Resolution:
    relations: dict[str, RelationRead]
    reads: list[ColumnRead]
    output: Source
    aggregates: list[Aggregate] = field(default_factory=list)


@dataclass
class _Scope:
    sources: dict[str, Source]
    parent: _Scope | None
    aliases: frozenset[str] = frozenset()
    clause: str = ""  # where in its query the expressions of this scope are ("where", "join", ...)
    query: _Query | None = None  # the SELECT this scope belongs to

    def chain(self) -> Iterable[_Scope]:
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


def resolve(statement: Any, is_placeholder: Callable[[str], bool]) -> Resolution:
    """Resolve every column of one parsed statement (a sqlglot expression)."""
    walker = _Walker(is_placeholder)
    output = walker.query(statement, None, {})
    aggregates = [
        replace(a, ungrouped=tuple(q is not None and q.loose and not q.grouped
                                   for q in walker.levels[a.id]))
        for a in walker.aggregates
    ]
    return Resolution(walker.relations, walker.reads, output, aggregates)


class _Walker:
    def __init__(self, is_placeholder: Callable[[str], bool]):
        from sqlglot import exp

        self.exp = exp
        self.is_placeholder = is_placeholder
        self.relations: dict[str, RelationRead] = {}
        self.reads: list[ColumnRead] = []
        self.aggregates: list[Aggregate] = []
        self.aggregate_count = 0
        # The queries around each recorded aggregate, innermost first.
        self.levels: dict[int, list[_Query | None]] = {}
        # One entry per aggregate being visited (None: a subquery inside it, whose columns are
        # not the aggregate's).
        self.collecting: list[_Collector | None] = []

    # ---- queries ---------------------------------------------------------------------------

    def query(self, node: Any, parent: _Scope | None, ctes: dict[str, Source]) -> Source:
        exp = self.exp
        if isinstance(node, exp.Subquery):
            source = self.query(node.this, parent, ctes)
            self.modifiers(node, source, parent, ctes)
            return source
        if isinstance(node, exp.SetOperation):
            ctes = self.with_clause(node, parent, ctes)
            left = self.query(node.this, parent, ctes)
            right = self.query(node.expression, parent, ctes)
            out = self.set_output(node, left, right)
            self.modifiers(node, out, parent, ctes)
            return out
        if isinstance(node, exp.Select):
            return self.select(node, parent, ctes)
        if isinstance(node, exp.Values):
            return self.values(node, parent, ctes)
        # Anything else (DDL, PIVOT statements, ...): read its columns loosely, output unknown.
        if isinstance(node, exp.Expression):
            self.visit(node, _Scope({}, parent), ctes, frozenset())
        return Source("query", opaque=True)

    def modifiers(self, node: Any, out: Source, parent: _Scope | None, ctes: dict[str, Source]) -> None:
        """ORDER BY / LIMIT on a union or parenthesised query see its output columns."""
        scope = _Scope({"": out}, parent)
        for key in ("order", "limit", "offset"):
            value = node.args.get(key)
            if value is not None:
                self.visit(value, scope, ctes, frozenset())

    def set_output(self, node: Any, left: Source, right: Source) -> Source:
        if not node.args.get("by_name"):
            return left
        out = Source(left.label, dict(left.names), list(left.display), left.stars + right.stars)
        out.opaque = left.opaque or right.opaque
        for name in right.display:
            if name.lower() not in out.names:
                out.add(name, right.names[name.lower()])
        return out

    def with_clause(self, node: Any, parent: _Scope | None, ctes: dict[str, Source]) -> dict[str, Source]:
        with_ = node.args.get("with_")
        if with_ is None:
            return ctes
        ctes = dict(ctes)
        recursive = bool(with_.args.get("recursive"))
        for cte in with_.expressions:
            name = cte.alias_or_name
            if recursive:
                ctes[name.lower()] = Source(name, opaque=True)
            body = self.query(cte.this, parent, ctes)
            ctes[name.lower()] = _relabel(_rename(body, _alias_columns(cte.args.get("alias"))), name)
        return ctes

    def values(self, node: Any, parent: _Scope | None, ctes: dict[str, Source]) -> Source:
        for row in node.expressions:
            self.visit(row, _Scope({}, parent), ctes, frozenset())
        names = _alias_columns(node.args.get("alias"))
        width = len(node.expressions[0].expressions) if node.expressions else 0
        out = Source(node.alias or "values")
        for i in range(width):
            out.add(names[i] if i < len(names) else f"col{i}")
        return out

    def select(self, node: Any, parent: _Scope | None, ctes: dict[str, Source]) -> Source:
        exp = self.exp
        ctes = self.with_clause(node, parent, ctes)
        query = _Query(grouped=node.args.get("group") is not None)
        scope = _Scope({}, parent, query=query)
        from_ = node.args.get("from_")
        if from_ is not None:
            self.from_item(from_.this, scope, ctes)
        for join in node.args.get("joins") or ():
            self.join(join, scope, ctes)
        for lateral in node.args.get("laterals") or ():
            self.from_item(lateral, scope, ctes)

        # Select items see the aliases defined before them (DuckDB's lateral column aliases).
        out = Source("query")
        seen: set[str] = set()
        for item in node.expressions:
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column)
                                              and isinstance(item.this, exp.Star)):
                query.loose = True
            # `customer as cust`: the alias passes the column (and its struct keys) on.
            target = item.this if isinstance(item, exp.Alias) else item
            origins = self.visit(target, _Scope(scope.sources, parent, frozenset(seen), "select",
                                                query), ctes, frozenset())
            self.add_output(out, item, origins, scope)
            if isinstance(item, exp.Alias):
                seen.add(item.alias.lower())
        handled = {"with_", "expressions", "from_", "joins", "laterals"}
        for key, value in node.args.items():
            if key in handled or value is None:
                continue
            everywhere = _Scope(scope.sources, parent, frozenset(seen), key, query)
            for part in value if isinstance(value, list) else [value]:
                if isinstance(part, exp.Expression):
                    self.visit(part, everywhere, ctes, frozenset())
        return out

    def add_output(self, out: Source, item: Any, origins: tuple[Origin, ...] | None, scope: _Scope) -> None:
        exp = self.exp
        if isinstance(item, exp.Star):
            for source in scope.sources.values():
                self.expand(out, source, item)
            return
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            aliased = self.table_alias(item.table, scope)
            if aliased is None:
                out.opaque = True
            else:
                self.expand(out, aliased, item.this)
            return
        if isinstance(item, (exp.Columns, exp.Explode)) or (
            isinstance(item, exp.Alias) and isinstance(item.this, exp.Columns)
        ):
            # COLUMNS(...), and `unnest(s)` without an alias, which spreads a STRUCT into its
            # fields: column names known only from the schema.
            out.opaque = True
            return
        if isinstance(item, exp.Alias):
            out.add(item.alias, origins or ())
            return
        chain = self.chain(item)
        if chain is not None and all(step.kind == "name" for step in chain[1]):
            out.add(chain[1][-1].name, origins or ())
            return
        out.add(item.sql(dialect="duckdb"))

    def expand(self, out: Source, source: Source, star: Any) -> None:
        exclude = frozenset(c.name.lower() for c in star.args.get("except_") or ())
        replaced = {a.alias.lower(): a.alias for a in star.args.get("replace") or ()}
        # `* rename (old as new)`: old name -> new name, for columns of this relation.
        renamed = {a.this.name.lower(): (a.this.name, a.alias) for a in star.args.get("rename") or ()
                   if isinstance(a, self.exp.Alias) and isinstance(a.this, self.exp.Column)}
        for name in source.display:
            key = name.lower()
            if key in exclude:
                continue
            if key in renamed:
                out.add(renamed[key][1], source.names[key])
                continue
            out.add(name, () if key in replaced else source.names[key])
        if source.stars:
            # A replaced column is computed and a renamed one answers to its new name: neither
            # passes through the base relation under its old name any more.
            for key, name in replaced.items():
                if key not in source.names and key not in exclude:
                    out.add(name, ())
            for key, (old, new) in renamed.items():
                if key not in source.names and key not in exclude:
                    out.add(new, tuple(Origin(s.rel, old) for s in source.stars if key not in s.exclude))
        hidden = exclude | frozenset(replaced) | frozenset(renamed)
        out.stars += tuple(Star(s.rel, s.exclude | hidden) for s in source.stars)
        out.opaque = out.opaque or source.opaque

    # ---- FROM ------------------------------------------------------------------------------

    def join(self, join: Any, scope: _Scope, ctes: dict[str, Source]) -> None:
        left = dict(scope.sources)
        alias = self.from_item(join.this, scope, ctes)
        on = join.args.get("on")
        if on is not None:
            self.visit(on, _Scope(scope.sources, scope.parent, scope.aliases, "join", scope.query),
                       ctes, frozenset())
        for ident in join.args.get("using") or ():
            # USING (id) needs the column on both sides.
            name = ident.name
            offset = _offset(ident)
            self.lookup(name, (), offset, _Scope(left, scope.parent), bare=True)
            right = scope.sources.get(alias)
            if right is not None:
                self.read_from(right, name, (), offset)

    def from_item(self, node: Any, scope: _Scope, ctes: dict[str, Source]) -> str:
        """Add a FROM item to `scope` (later items see earlier ones: DuckDB's implicit LATERAL)."""
        exp = self.exp
        alias = node.alias
        columns = _alias_columns(node.args.get("alias"))
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            source = self.table(node, ctes)
            alias = alias or node.name
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            source = self.table_function(node.this, scope, ctes)
            alias = alias or _function_name(node.this)
        elif isinstance(node, exp.Unnest):
            source = self.unnest(node, scope, ctes)
            alias = alias or "unnest"
        elif isinstance(node, (exp.Subquery, exp.Lateral)):
            # It sees the FROM items before it (DuckDB's implicit LATERAL), where no aggregate
            # of the outer query may stand.
            lateral = _Scope(scope.sources, scope.parent, scope.aliases, "lateral", scope.query)
            source = self.query(node.this, lateral, ctes)
        elif isinstance(node, exp.Values):
            source = self.values(node, scope.parent, ctes)
            columns = []
        else:
            self.visit(node, scope, ctes, frozenset())
            source = Source(alias or "?", opaque=True)
        if isinstance(node, exp.Table) and (node.args.get("joins") or node.args.get("pivots")):
            source = Source(alias or "?", opaque=True)  # parenthesised joins, PIVOT: not modelled
        source = _relabel(_rename(source, columns), alias or source.label)
        scope.sources[(alias or "").lower()] = source
        return (alias or "").lower()

    def table(self, node: Any, ctes: dict[str, Source]) -> Source:
        name = node.name
        if not node.args.get("db") and name.lower() in ctes:
            return ctes[name.lower()]
        offset = _offset(node.this)
        if not node.args.get("db") and self.is_placeholder(name):
            self.relations.setdefault(name, RelationRead(name, "placeholder", name, offset))
            return Source(name, stars=(Star(name),))
        rel = f"table@{offset}"
        self.relations[rel] = RelationRead(rel, "table", node.sql(dialect="duckdb"), offset)
        return Source(name, opaque=True)

    def table_function(self, func: Any, scope: _Scope, ctes: dict[str, Source]) -> Source:
        exp = self.exp
        name = _function_name(func)
        args = list(func.expressions) if func.expressions else list(func.iter_expressions())
        options: dict[str, Any] = {}
        positional = []
        for arg in args:
            key = _option_name(arg, exp)
            if key is not None:
                options[key] = arg.expression
            else:
                positional.append(arg)
        if name in FILE_READERS and positional:
            paths = tuple(_string_literals(positional[0], exp))
            offset = _first_literal_offset(func)
            rel = f"file@{len(self.relations)}"
            hive = _truthy(options.get("hive_partitioning"), exp)
            fname = options.get("filename")
            filename = None
            if fname is not None:
                if isinstance(fname, exp.Literal) and fname.is_string:
                    filename = fname.this
                elif _truthy(fname, exp):
                    filename = "filename"
            self.relations[rel] = RelationRead(rel, "file", name, offset, paths, hive, filename)
            for arg in positional[1:]:
                self.visit(arg, scope, ctes, frozenset())
            return Source(name, stars=(Star(rel),))
        for arg in positional:
            self.visit(arg, scope, ctes, frozenset())
        for value in options.values():
            self.visit(value, scope, ctes, frozenset())
        return Source(name, opaque=True)

    def unnest(self, node: Any, scope: _Scope, ctes: dict[str, Source]) -> Source:
        alias = node.args.get("alias")
        names = _alias_columns(alias)
        table_alias = alias.name if alias is not None and alias.name else ""
        source = Source(table_alias or "unnest")
        for i, expr in enumerate(node.expressions):
            origins = self.visit(expr, scope, ctes, frozenset()) or ()
            element = tuple(
                Origin(o.rel, o.column, o.path + (Step(ARRAY_STEP, None, "index"),)) for o in origins
            )
            if i < len(names):
                source.add(names[i], element)
            elif i == 0:
                source.add(table_alias or "unnest", element)
            else:
                source.opaque = True
        if node.args.get("offset"):
            source.opaque = True
        return source

    # ---- expressions -----------------------------------------------------------------------

    def visit(
        self, node: Any, scope: _Scope, ctes: dict[str, Source], lambdas: frozenset[str]
    ) -> tuple[Origin, ...] | None:
        """Record every column read below `node`; return the origins when `node` is itself a
        column chain (a column, struct access or JSON path), else None."""
        exp = self.exp
        chain = self.chain(node)
        if chain is not None:
            column, steps = chain
            for sub in self.chain_subexpressions(node):
                self.visit(sub, scope, ctes, lambdas)
            if steps and steps[0].name.lower() in lambdas:
                self.note_column(0, scope, None)
                return None
            if (scope.query is not None and scope.clause in _GROUPED_CLAUSES
                    and not (self.collecting and self.collecting[-1] is not None)
                    and not (len(steps) == 1 and steps[0].name.lower() in scope.aliases)):
                scope.query.loose = True
            return self.column(steps, scope)
        if isinstance(node, (exp.Subquery, exp.SetOperation, exp.Select)):
            self.collecting.append(None)
            try:
                self.query(node, scope, ctes)
            finally:
                self.collecting.pop()
            return None
        if isinstance(node, exp.Window) and _is_aggregate(node.this, exp):
            # `max(x) over (...)` is a window function, not an aggregate of the query.
            for child in node.iter_expressions():
                for part in _aggregate_arguments(child, exp) if child is node.this else [child]:
                    self.visit(part, scope, ctes, lambdas)
            return None
        if _is_aggregate(node, exp):
            self.aggregate(node, scope, ctes, lambdas)
            return None
        if isinstance(node, exp.Lambda):
            params = frozenset(p.name.lower() for p in node.expressions)
            self.visit(node.this, scope, ctes, lambdas | params)
            return None
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            return None
        if isinstance(node, exp.Star):
            for item in node.args.get("except_") or ():
                if isinstance(item, exp.Column):
                    self.lookup(item.name, (), _offset(item.this), scope, bare=True)
            for item in node.args.get("replace") or ():
                self.visit(item.this, scope, ctes, lambdas)
            return None
        if isinstance(node, exp.PropertyEQ) and isinstance(node.this, exp.Identifier):
            self.visit(node.expression, scope, ctes, lambdas)  # struct_pack(k := v), {'k': v}
            return None
        if isinstance(node, (exp.Identifier, exp.Var, exp.Literal, exp.DataType)):
            return None
        for child in node.iter_expressions():
            self.visit(child, scope, ctes, lambdas)
        return None

    def chain(self, node: Any) -> tuple[Any, list[Step]] | None:
        """(base column, steps) when `node` is a column chain: `a`, `t.a`, `a.b[1].c`,
        `a::JSON->>'$.b.c'`; None otherwise."""
        exp = self.exp
        tail: list[Step] = []
        while True:
            if isinstance(node, exp.Column):
                if not isinstance(node.this, exp.Identifier):
                    return None
                steps = [Step(part.name, _offset(part)) for part in node.parts]
                return node, steps + tail
            if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
                tail.insert(0, Step(node.expression.name, _offset(node.expression)))
                node = node.this
            elif isinstance(node, exp.Bracket) and len(node.expressions) == 1:
                index = node.expressions[0]
                if isinstance(index, exp.Literal) and index.is_string:
                    tail.insert(0, Step(index.this, None, "key"))
                else:
                    tail.insert(0, Step(ARRAY_STEP, None, "index"))
                node = node.this
            elif (isinstance(node, exp.StructExtract) and isinstance(node.expression, exp.Literal)
                  and node.expression.is_string):
                tail.insert(0, Step(node.expression.this, None, "key"))
                node = node.this
            elif isinstance(node, (exp.JSONExtract, exp.JSONExtractScalar)) and isinstance(
                node.expression, exp.JSONPath
            ):
                json_steps = _json_steps(node.expression, exp)
                if json_steps is None:
                    return None
                tail[:0] = json_steps
                node = node.this
                # Not `is_type("json")`: that parses the type name on every call.
                while isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.JSON:
                    node = node.this
            else:
                return None

    def chain_subexpressions(self, node: Any) -> list[Any]:
        """Non-literal bracket indexes inside a chain (`a[i + 1]`) are reads of their own."""
        exp = self.exp
        out: list[Any] = []
        while not isinstance(node, exp.Column):
            if isinstance(node, exp.Bracket):
                out.extend(e for e in node.expressions if not isinstance(e, exp.Literal))
            node = node.this
        return out

    # ---- column lookup ---------------------------------------------------------------------

    def column(self, steps: list[Step], scope: _Scope) -> tuple[Origin, ...] | None:
        if len(steps) >= 2 and steps[0].kind == "name":
            depth, source = self.alias_level(steps[0].name, scope)
            # DuckDB goes outwards level by level: at each, a table alias first, then a column
            # named like the qualifier (a struct). So an inner relation's column `customer`
            # hides an outer alias `customer`.
            shadow: tuple[Origin, ...] = ()
            key = steps[0].name.lower()
            for level in list(scope.chain())[:depth] if source is not None else ():
                # (An unknown relation is assumed not to have such a column.)
                if any(key in s.names for s in level.sources.values()):
                    return self.lookup(steps[0].name, tuple(steps[1:]), steps[0].offset, scope)
                shadow += tuple(Origin(star.rel, steps[0].name, tuple(steps[1:]))
                                for s in level.sources.values() for star in s.stars
                                if key not in star.exclude)
            if source is not None:
                self.note_column(depth, scope, steps[0].offset, steps[0].name, shadow)
            first, second = steps[0].name.lower(), steps[1].name.lower()
            if source is not None and second not in source.names and first in source.names:
                # `u.p` with `unnest(l) as u`: the table has no `p`, its column `u` is a struct.
                return self.read_from(source, steps[0].name, tuple(steps[1:]), steps[0].offset)
            if source is not None:
                if steps[1].kind != "name":
                    return None
                return self.read_from(source, steps[1].name, tuple(steps[2:]), steps[1].offset,
                                      shadow)
        if steps[0].kind != "name":
            return None
        return self.lookup(steps[0].name, tuple(steps[1:]), steps[0].offset, scope)

    def alias_level(self, name: str, scope: _Scope) -> tuple[int, Source | None]:
        """The scope depth and relation of the nearest table alias `name` (0, None if none)."""
        key = name.lower()
        for depth, level in enumerate(scope.chain()):
            if key in level.sources:
                return depth, level.sources[key]
        return 0, None

    def table_alias(self, name: str, scope: _Scope) -> Source | None:
        key = name.lower()
        for level in scope.chain():
            if key in level.sources:
                return level.sources[key]
        return None

    def read_from(
        self, source: Source, name: str, path: tuple[Step, ...], offset: int | None,
        shadow: tuple[Origin, ...] = (),
    ) -> tuple[Origin, ...] | None:
        """A column read from one known relation (qualified, or the only one offering it).
        `shadow`: inner relations' columns named like the qualifier, which win when they exist."""
        key = name.lower()
        if key in source.names:
            return self.pass_through(source.names[key], path, offset)
        if source.opaque:
            return None
        candidates = tuple(Origin(s.rel, name, path) for s in source.stars if key not in s.exclude)
        self.record(name, offset, candidates, source, shadow=shadow)
        return candidates

    def pass_through(
        self, origins: tuple[Origin, ...], path: tuple[Step, ...], offset: int | None
    ) -> tuple[Origin, ...]:
        extended = tuple(Origin(o.rel, o.column, o.path + path) for o in origins)
        if path and extended and offset is not None:
            self.reads.append(ColumnRead(extended[0].column, offset, extended, derived=True))
        return extended

    def lookup(
        self, name: str, path: tuple[Step, ...], offset: int | None, scope: _Scope, bare: bool = False
    ) -> tuple[Origin, ...] | None:
        """An unqualified column: innermost FROM clause first, then outwards."""
        key = name.lower()
        candidates: list[Origin] = []
        depths: list[int] = []
        labels: list[str] = []
        outer: tuple[int, str] | None = None
        for depth, level in enumerate(scope.chain()):
            explicit = [s for s in level.sources.values() if key in s.names]
            if len(explicit) == 1 and not candidates:
                if depth and not bare and offset is not None:
                    # Certainly bound by correlation: recorded with no candidates of its own.
                    self.reads.append(ColumnRead(name, offset, (), scope=_label(scope),
                                                 outer=(depth, explicit[0].label),
                                                 aggregate=self.aggregate_id(),
                                                 fromless=not scope.sources))
                self.note_column(depth, scope, offset, explicit[0].label)
                return self.pass_through(explicit[0].names[key], path, offset)
            if len(explicit) == 1 and not bare:
                outer = (depth, explicit[0].label)  # unless a relation further in has it
                break
            if explicit or any(s.opaque for s in level.sources.values()):
                self.note_column(0, scope, None)
                return None
            # A select-list alias of this query or of an outer one (DuckDB binds an outer alias
            # inside a WHERE subquery too).
            if not bare and key in level.aliases:
                self.note_column(0, scope, None)
                return None
            for source in level.sources.values():
                for star in source.stars:
                    if key not in star.exclude:
                        candidates.append(Origin(star.rel, name, path))
                        depths.append(depth)
                        labels.append(source.label)
        sources = list(scope.sources.values())
        if offset is None or outer is None and not any(depths):
            # Only the read's own FROM clause can bind it: nothing for an aggregate to learn.
            self.note_column(0, scope, offset)
            depths = []
        self.record(name, offset, tuple(candidates), sources[0] if len(sources) == 1 else None,
                    tuple(depths), tuple(labels), outer, fromless=not sources)
        return tuple(candidates)

    def record(
        self, name: str, offset: int | None, candidates: tuple[Origin, ...], source: Source | None,
        depths: tuple[int, ...] = (), labels: tuple[str, ...] = (),
        outer: tuple[int, str] | None = None, shadow: tuple[Origin, ...] = (),
        fromless: bool = False,
    ) -> None:
        if offset is None:
            return
        label = source.label if source is not None else ""
        known = tuple(source.display) if source is not None and not candidates else ()
        if not depths:
            self.reads.append(ColumnRead(name, offset, candidates, scope=label, known=known,
                                         shadow=shadow))
            return
        self.reads.append(ColumnRead(name, offset, candidates, scope=label, known=known,
                                     depths=depths, labels=labels, outer=outer,
                                     aggregate=self.aggregate_id(), fromless=fromless))

    # ---- aggregates ------------------------------------------------------------------------

    def aggregate(self, node: Any, scope: _Scope, ctes: dict[str, Source],
                  lambdas: frozenset[str]) -> None:
        """Visit an aggregate call; record it when none of its columns is certainly local."""
        self.aggregate_count += 1
        collector = _Collector(self.aggregate_count)
        first_read = len(self.reads)
        self.collecting.append(collector)
        try:
            for child in _aggregate_arguments(node, self.exp):
                self.visit(child, scope, ctes, lambdas)
        finally:
            self.collecting.pop()
        ident = collector.id
        named = [i for i in range(first_read, len(self.reads)) if self.reads[i].aggregate == ident]
        if collector.local or not (collector.fixed or named):
            # Its own query's aggregate (or one without columns, `count(*)`): unbind the reads.
            for i in named:
                self.reads[i] = replace(self.reads[i], aggregate=None)
            return
        function = node.this if isinstance(node, self.exp.Filter) else node
        clauses = tuple(level.clause for level in scope.chain())
        self.levels[ident] = [level.query for level in scope.chain()]
        meta = getattr(function, "_meta", None) or {}
        written = (meta["start"], meta["end"] + 1) if isinstance(meta.get("start"), int) and \
            isinstance(meta.get("end"), int) else None
        self.aggregates.append(Aggregate(ident, _function_name(function), clauses,
                                         tuple(collector.fixed), written=written))

    def aggregate_id(self) -> int | None:
        collector = self.collecting[-1] if self.collecting else None
        return collector.id if collector is not None else None

    def note_column(self, depth: int, scope: _Scope | None, offset: int | None,
                    label: str = "", shadow: tuple[Origin, ...] = ()) -> None:
        """A column of the aggregate being visited binds at `depth` (0: its own query)."""
        collector = self.collecting[-1] if self.collecting else None
        if collector is None:
            return
        if depth == 0:
            collector.local = True
        else:
            collector.fixed.append((depth, label, offset, shadow))


# ---- helpers -------------------------------------------------------------------------------

# The clauses whose columns must be grouped once the query aggregates.
_GROUPED_CLAUSES = frozenset({"select", "order", "qualify", "having"})


def _label(scope: _Scope) -> str:
    sources = list(scope.sources.values())
    return sources[0].label if len(sources) == 1 else ""


def _is_aggregate(node: Any, exp: Any) -> bool:
    """An aggregate call, with or without `FILTER (WHERE ...)`."""
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc)
    )


def _aggregate_arguments(node: Any, exp: Any) -> list[Any]:
    """The expressions an aggregate call reads: its arguments and its FILTER condition."""
    if isinstance(node, exp.Filter):
        return [*node.this.iter_expressions(), *(e for e in node.iter_expressions() if e is not node.this)]
    return list(node.iter_expressions())


def _offset(node: Any) -> int | None:
    meta = getattr(node, "_meta", None) or {}
    start = meta.get("start")
    return start if isinstance(start, int) else None


def _alias_columns(alias: Any) -> list[str]:
    if alias is None:
        return []
    return [c.name for c in alias.args.get("columns") or ()]


def _rename(source: Source, columns: list[str]) -> Source:
    """`t(a, b)` renames the first columns positionally."""
    if not columns:
        return source
    if source.stars or source.opaque or len(columns) > len(source.display):
        # Which star column gets which name is unknown: offer the new names, trust the rest.
        out = Source(source.label, opaque=True)
        for name in columns:
            out.add(name)
        return out
    out = Source(source.label)
    for i, old in enumerate(source.display):
        out.add(columns[i] if i < len(columns) else old, source.names[old.lower()])
    return out


def _relabel(source: Source, label: str) -> Source:
    if source.label == label:
        return source
    return Source(label, source.names, source.display, source.stars, source.opaque)


def _function_name(func: Any) -> str:
    from sqlglot import exp

    if isinstance(func, exp.Anonymous):
        return str(func.name).lower()
    return func.sql_name().lower()


def _option_name(arg: Any, exp: Any) -> str | None:
    """`filename=true` / `filename := true` inside a table function: an option, not a column."""
    if isinstance(arg, (exp.EQ, exp.PropertyEQ, exp.Kwarg)):
        left = arg.this
        if isinstance(left, exp.Column) and isinstance(left.this, exp.Identifier) and not left.table:
            return left.name.lower()
        if isinstance(left, (exp.Identifier, exp.Var)):
            return left.name.lower()
    return None


def _truthy(value: Any, exp: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, exp.Boolean):
        return bool(value.this)
    if isinstance(value, exp.Literal):
        return str(value.this).lower() in ("1", "true")
    return False


def _string_literals(node: Any, exp: Any) -> list[str]:
    if isinstance(node, exp.Literal) and node.is_string:
        return [node.this]
    if isinstance(node, exp.Array):
        return [e.this for e in node.expressions if isinstance(e, exp.Literal) and e.is_string]
    return []


def _first_literal_offset(func: Any) -> int | None:
    return None  # literals carry no position in sqlglot; found by text search (facts.py)


def _json_steps(path: Any, exp: Any) -> list[Step] | None:
    steps = []
    for part in path.expressions:
        if isinstance(part, exp.JSONPathRoot):
            continue
        if isinstance(part, exp.JSONPathKey) and isinstance(part.this, str):
            steps.append(Step(part.this, None, "json"))
        elif isinstance(part, exp.JSONPathSubscript):
            steps.append(Step(ARRAY_STEP, None, "index"))
        else:
            break  # wildcards, filters: the path stops being checkable here
    return steps
