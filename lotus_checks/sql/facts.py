"""Per-model facts: what a model reads and outputs, as typed values (`ModelFacts`).

Facts depend only on the model's text and name (and the checker's and sqlglot's versions), never on
stream configs or other models, so they are cached by content and a stream config change does not
invalidate them; the comparison against schemas (checks/columns) runs every time.

`model_facts(text, name, vars)` returns the facts as JSON data, what the cache stores
(`ModelFacts.to_json()`); the checks turn it into `ModelFacts` once, where they obtain it
(`ModelFacts.from_json`), and read attributes from then on. The same holds for the small view the
coverage family reads (`CoverageView`, also cached on its own). Positions are 1-based line and
column in the *original* .sql file.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import NamedTuple
from collections.abc import Callable
from collections.abc import Mapping

from lotus_checks.core.loaders import LineIndex

FACTS_VERSION = "7"  # 2: "coverage"; 3: correlation, aggregates, "key" steps, "queries";
# 4: runtime var() names in "files" calls; 5: "shadow", "ungrouped"; 6: typed (ModelFacts), "tags";
# 7: a read as a list, a rendering equal to the one before it as that one's index
PLACEHOLDER_KINDS = ("source", "ref", "this")
Position = tuple[int | None, int | None]
Json = dict[str, Any]


# ---- the facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """A template error (LL004), SQL that does not parse (LL003), a model over its budget (LL008)."""

    code: str
    message: str
    line: int | None
    column: int | None

    def to_json(self) -> Json:
        return {"code": self.code, "message": self.message, "line": self.line,
                "column": self.column}

    @classmethod
    def from_json(cls, data: Json) -> Problem:
        return cls(data["code"], data["message"], data["line"], data["column"])


@dataclass(frozen=True, slots=True)
class Call:
    """A `source()`, `ref()`, `this` or runtime file path (`files`: a var() without default)
    the template calls, in any rendering."""

    kind: str  # "source" | "ref" | "this" | "files"
    args: tuple[str, ...]
    line: int | None
    column: int | None

    def to_json(self) -> Json:
        return {"kind": self.kind, "args": list(self.args), "line": self.line,
                "column": self.column}

    @classmethod
    def from_json(cls, data: Json) -> Call:
        return cls(data["kind"], tuple(data["args"]), data["line"], data["column"])


class PathStep(NamedTuple):
    """One step of a struct or JSON path into a column (`a.b`, `a['b']`, `'$.b'`, `a[1]`). A
    named tuple, as `ColumnRead` is."""

    name: str
    kind: str  # "name" | "key" | "json" | "index"
    line: int | None
    column: int | None

    def to_json(self) -> list[Any]:
        return [self.name, self.kind, self.line, self.column]

    @classmethod
    def from_json(cls, data: list[Any]) -> PathStep:
        return cls(data[0], data[1], data[2], data[3])


class Origin(NamedTuple):
    """A column of a relation of the rendering (`Rendering.relations` key) a read may come
    from, with the struct or JSON path read into it. A named tuple, as `ColumnRead` is."""

    rel: str
    column: str
    steps: tuple[PathStep, ...] = ()

    def to_json(self) -> list[Any]:
        if not self.steps:
            return [self.rel, self.column]
        return [self.rel, self.column, [s.to_json() for s in self.steps]]

    @classmethod
    def from_json(cls, data: list[Any]) -> Origin:
        if len(data) == 2:
            return cls(data[0], data[1])
        return cls(data[0], data[1], tuple([PathStep(*s) for s in data[2]]))


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation a rendering reads: a placeholder (`source`, `ref`, `this`), a raw `file`
    read, or another `table`."""

    kind: str  # "source" | "ref" | "this" | "file" | "table"
    args: tuple[str, ...]  # the call's arguments; a table's name
    line: int | None
    column: int | None
    paths: tuple[str, ...] = ()  # file: the literal paths (not those passed at run time)
    files: bool = False  # file: reads paths passed at run time (a var() without default)
    # file: the var() each runtime placeholder in its paths stands for ("" for an env_var())
    runtime: Mapping[str, str] = field(default_factory=dict)
    hive: bool = False  # file: hive_partitioning=true
    filename: str | None = None  # file: the column filename=true adds

    def to_json(self) -> Json:
        data: Json = {"kind": self.kind, "args": list(self.args), "line": self.line,
                      "column": self.column}
        if self.kind == "file":
            data.update(paths=list(self.paths), files=self.files, runtime=dict(self.runtime),
                        hive=self.hive, filename=self.filename)
        return data

    @classmethod
    def from_json(cls, data: Json) -> Relation:
        if data["kind"] != "file":
            return cls(data["kind"], tuple(data["args"]), data["line"], data["column"])
        return cls(data["kind"], tuple(data["args"]), data["line"], data["column"],
                   tuple(data["paths"]), data["files"], data["runtime"], data["hive"],
                   data["filename"])


class ColumnRead(NamedTuple):
    """A column the rendering reads, and the relations' columns it may come from (any one is
    enough; none: no relation in scope has it). Fields after `known` only for a name a subquery
    may take from an outer query (see resolve.ColumnRead).

    A named tuple rather than a frozen dataclass (typed and immutable all the same): every run
    after an edit builds every model's reads from the store, and a frozen dataclass sets each
    of its fields through object.__setattr__, several times what building a tuple costs."""

    name: str
    line: int | None
    column: int | None
    candidates: tuple[Origin, ...]
    derived: bool  # only a struct/JSON path: the column is judged where it is first read
    scope: str  # the CTE or subquery it reads from ("" for the FROM clause)
    known: tuple[str, ...]  # the columns that scope has, for hints
    # a qualified read through an outer alias: inner columns named like the qualifier
    shadow: tuple[Origin, ...] = ()
    depths: tuple[int, ...] = ()  # the scope depth of each candidate (0: its own FROM clause)
    labels: tuple[str, ...] = ()  # the FROM item label of each candidate
    outer: tuple[int, str] | None = None  # (depth, label) of an outer relation that has it
    aggregate: str | None = None  # the `Aggregate.id` it is an argument of
    fromless: bool = False  # its own query has no FROM clause

    @property
    def correlated(self) -> bool:
        """Whether an outer query may bind it (the fields after `shadow` say how)."""
        return bool(self.depths) or self.outer is not None

    def to_json(self) -> list[Any]:
        # A list, not an object: a model has hundreds of reads, and a warm run decodes every
        # model's. The first seven fields always; `shadow` when it or the fields after it are
        # set; those only for a correlated read.
        data: list[Any] = [self.name, self.line, self.column,
                           [c.to_json() for c in self.candidates], self.derived, self.scope,
                           list(self.known)]
        if self.shadow or self.correlated:
            data.append([c.to_json() for c in self.shadow])
        if self.correlated:
            data += [list(self.depths), list(self.labels),
                     list(self.outer) if self.outer is not None else None, self.aggregate,
                     self.fromless]
        return data

    @classmethod
    def from_json(cls, data: list[Any]) -> ColumnRead:
        origin = Origin.from_json
        candidates = tuple([origin(c) for c in data[3]])
        if len(data) == 7:
            return cls(data[0], data[1], data[2], candidates, data[4], data[5], tuple(data[6]))
        shadow = tuple([origin(c) for c in data[7]])
        if len(data) == 8:
            return cls(data[0], data[1], data[2], candidates, data[4], data[5], tuple(data[6]),
                       shadow)
        outer = data[10]
        return cls(data[0], data[1], data[2], candidates, data[4], data[5], tuple(data[6]),
                   shadow, tuple(data[8]), tuple(data[9]),
                   (outer[0], outer[1]) if outer is not None else None, data[11], data[12])


@dataclass(frozen=True, slots=True)
class OuterColumn:
    """A column of an aggregate that binds in an outer query through a table alias."""

    depth: int
    label: str  # the outer FROM item
    line: int | None
    column: int | None
    shadow: tuple[Origin, ...]  # as in ColumnRead

    def to_json(self) -> list[Any]:
        return [self.depth, self.label, self.line, self.column, [c.to_json() for c in self.shadow]]

    @classmethod
    def from_json(cls, data: list[Any]) -> OuterColumn:
        return cls(data[0], data[1], data[2], data[3], tuple(Origin.from_json(c) for c in data[4]))


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregate call none of whose columns is certainly its own query's (resolve.Aggregate):
    its other columns are the reads that name its `id`."""

    id: str
    function: str  # as written
    clauses: tuple[str, ...]  # per enclosing level: the clause holding the subquery
    ungrouped: tuple[bool, ...]  # per enclosing level: no GROUP BY, columns outside aggregates
    fixed: tuple[OuterColumn, ...]

    def to_json(self) -> Json:
        return {"id": self.id, "function": self.function, "clauses": list(self.clauses),
                "ungrouped": list(self.ungrouped), "fixed": [f.to_json() for f in self.fixed]}

    @classmethod
    def from_json(cls, data: Json) -> Aggregate:
        return cls(data["id"], data["function"], tuple(data["clauses"]),
                   tuple(data["ungrouped"]), tuple(OuterColumn.from_json(f) for f in data["fixed"]))


@dataclass(frozen=True, slots=True)
class Star:
    """`select *` over a relation of the rendering, minus the excluded columns."""

    rel: str
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outputs:
    """The columns a rendering outputs: named ones, and every column of its `select *`s;
    `opaque` when they cannot be known (a table function, an unknown table under a star)."""

    names: tuple[str, ...]
    stars: tuple[Star, ...]
    opaque: bool

    def to_json(self) -> Json:
        return {"names": list(self.names), "stars": [[s.rel, list(s.exclude)] for s in self.stars],
                "opaque": self.opaque}

    @classmethod
    def from_json(cls, data: Json) -> Outputs:
        return cls(tuple(data["names"]), tuple(Star(r, tuple(e)) for r, e in data["stars"]),
                   data["opaque"])


@dataclass(frozen=True, slots=True)
class Rendering:
    """The facts of one rendered SQL text (a model's, or a query it runs at compile time)."""

    relations: dict[str, Relation]  # by the resolver's relation id
    reads: tuple[ColumnRead, ...]
    aggregates: tuple[Aggregate, ...]
    outputs: Outputs | None  # None: no statement
    # The SQL it runs at compile time (run_query(), statement), each None if it did not parse.
    queries: tuple[Rendering | None, ...] = ()

    def to_json(self) -> Json:
        data: Json = {"relations": {k: r.to_json() for k, r in self.relations.items()},
                      "reads": [r.to_json() for r in self.reads],
                      "aggregates": [a.to_json() for a in self.aggregates],
                      "outputs": self.outputs.to_json() if self.outputs is not None else None}
        if self.queries:
            data["queries"] = [q.to_json() if q is not None else None for q in self.queries]
        return data

    @classmethod
    def from_json(cls, data: Json) -> Rendering:
        outputs = data["outputs"]
        queries = data.get("queries", ())
        read = ColumnRead.from_json
        return cls(
            {k: Relation.from_json(r) for k, r in data["relations"].items()},
            tuple([read(r) for r in data["reads"]]),
            tuple(Aggregate.from_json(a) for a in data["aggregates"]),
            Outputs.from_json(outputs) if outputs is not None else None,
            tuple(cls.from_json(q) if q is not None else None for q in queries),
        )


@dataclass(frozen=True, slots=True)
class CoverageView:
    """What the coverage family (LL3xx) reads of a model's plain rendering: its tags (None when
    the template broke before or inside config(), so they are unknown) and its source() calls."""

    tags: tuple[str, ...] | None
    sources: frozenset[tuple[str, str]]

    def to_json(self) -> Json:
        return {"tags": list(self.tags) if self.tags is not None else None,
                "sources": [list(s) for s in sorted(self.sources)]}

    @classmethod
    def from_json(cls, data: Json) -> CoverageView:
        tags = data["tags"]
        return cls(tuple(tags) if tags is not None else None,
                   frozenset((str(s), str(t)) for s, t in data["sources"]))


UNKNOWN_COVERAGE = CoverageView(None, frozenset())


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """A model's facts: its tags, calls and problems over both renderings (is_incremental()
    False, then True; each None if it did not parse), and the coverage view of the first.
    `skipped`: over the CPU budget (one LL008 problem, nothing else known); `transient`: a
    rendering ran out of time. Neither is cached: both depend on the machine."""

    tags: tuple[str, ...]
    calls: tuple[Call, ...]
    problems: tuple[Problem, ...]
    renderings: tuple[Rendering | None, ...]
    coverage: CoverageView
    skipped: bool = False
    transient: bool = False

    def to_json(self) -> Json:
        # A rendering that gives the same facts as the one before it (most models: no
        # is_incremental() difference) is stored as that one's index, not a second copy.
        renderings: list[Any] = []
        for i, rendering in enumerate(self.renderings):
            if rendering is not None and i and rendering == self.renderings[i - 1]:
                renderings.append(i - 1)
            else:
                renderings.append(rendering.to_json() if rendering is not None else None)
        data: Json = {"tags": list(self.tags), "calls": [c.to_json() for c in self.calls],
                      "problems": [p.to_json() for p in self.problems],
                      "coverage": self.coverage.to_json(), "renderings": renderings}
        if self.skipped:
            data["skipped"] = True
        if self.transient:
            data["transient"] = True
        return data

    @classmethod
    def from_json(cls, data: Json) -> ModelFacts:
        renderings: list[Rendering | None] = []
        for rendering in data["renderings"]:
            if rendering is None:
                renderings.append(None)
            elif isinstance(rendering, int):
                # The same as an earlier rendering (see to_json): the same object, which the
                # columns family then checks once.
                renderings.append(renderings[rendering])
            else:
                renderings.append(Rendering.from_json(rendering))
        return cls(
            tuple(data["tags"]),
            tuple(Call.from_json(c) for c in data["calls"]),
            tuple(Problem.from_json(p) for p in data["problems"]),
            tuple(renderings),
            CoverageView.from_json(data["coverage"]),
            bool(data.get("skipped")),
            bool(data.get("transient")),
        )


# ---- computing them ----------------------------------------------------------------------------


def versions() -> str:
    """What facts depend on besides the model text (no sqlglot import: warm runs never need it)."""
    from lotus_checks import __version__

    return f"{FACTS_VERSION}/{__version__}/sqlglot {_sqlglot_version()}"


def _sqlglot_version() -> str:
    """From sqlglot/_version.py's text: importing it imports sqlglot, and importlib.metadata
    is slow to start (warm runs need neither; bench/README.md)."""
    import importlib.util

    spec = importlib.util.find_spec("sqlglot")  # locates the package without importing it
    if spec is not None and spec.origin:
        try:
            with open(os.path.join(os.path.dirname(spec.origin), "_version.py"),
                      encoding="utf-8") as f:
                text = f.read()
        except OSError:
            text = ""
        match = re.search(r"^__version__\s*=\s*(?:version\s*=\s*)?['\"]([^'\"]+)['\"]", text,
                          re.MULTILINE)
        if match:
            return match.group(1)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("sqlglot")
    except PackageNotFoundError:  # pragma: no cover - sqlglot is a dependency
        return "?"


def model_facts(text: str, model_name: str, project_vars: dict[str, Any] | None = None) -> Json:
    """Render the model both ways (is_incremental() False/True), parse, resolve: its facts, as
    the JSON data the cache stores (`ModelFacts.from_json` reads it).

    All of it within a CPU budget per model: past it, the facts are one LL008 problem and
    `skipped` (not to be cached: the budget depends on the machine)."""
    from lotus_checks.sql import _budget

    import_parsers()  # once per process, outside the budget: start-up is not the model's cost
    try:
        with _budget.cpu_time_limit(_budget.MODEL_SECONDS):
            return _model_facts(text, model_name, project_vars).to_json()
    except _budget.TimeLimitExceeded:
        message = (
            f"checking this model took over {_budget.MODEL_SECONDS:g} s of CPU time (the "
            "per-file budget); it was skipped, nothing in it was checked"
        )
        # Tags unknown, as for a broken template.
        return ModelFacts((), (), (Problem("LL008", message, None, None),), (), UNKNOWN_COVERAGE,
                          skipped=True).to_json()


def import_parsers() -> None:
    import sqlglot.dialects.duckdb  # noqa: F401 - sqlglot loads dialects on first use

    from lotus_checks.sql import _jinja  # noqa: F401
    from lotus_checks.sql import resolve  # noqa: F401


def _model_facts(text: str, model_name: str, project_vars: dict[str, Any] | None) -> ModelFacts:
    from lotus_checks.sql.render import render_model

    tags: tuple[str, ...] = ()
    coverage = UNKNOWN_COVERAGE
    transient = False
    renderings: list[Rendering | None] = []
    # Each once, in the order first met (dicts as ordered sets).
    calls: dict[Call, None] = {}
    problems: dict[Problem, None] = {}
    plain: tuple[Any, tuple[Rendering | None, Problem | None]] | None = None
    rendered = None
    for incremental in (False, True):
        if rendered is None or calls_is_incremental(text):
            rendered = render_model(
                text, model_name=model_name, incremental=incremental, project_vars=project_vars
            )
        # else: the template never names is_incremental(), the one thing the flag changes, so
        # the second rendering is the first (rendering is deterministic).
        if rendered.timed_out:
            transient = True  # a faster machine may render it: never cached
        if not incremental:
            tags = _tags(rendered.config)
            coverage = coverage_of(rendered)
        for found in rendered.problems:
            problems.setdefault(Problem("LL004", found.message, found.line, found.column))
        for call in rendered.relations.values():
            calls.setdefault(Call(call.kind, tuple(str(a) for a in call.args), call.line,
                                  call.column))
        rendering = None
        if rendered.sql is not None:
            if plain is not None and _same_rendering(plain[0], rendered):
                # No is_incremental() difference (most models): the same SQL, parsed once.
                rendering, problem = plain[1]
            else:
                rendering, problem = sql_facts(
                    rendered.sql, rendered.relations, rendered.original_position
                )
                if rendering is not None and rendered.queries:
                    rendering = replace(rendering, queries=_query_facts(rendered, problems))
            plain = (rendered, (rendering, problem))
            if problem is not None:
                problems.setdefault(problem)
        renderings.append(rendering)
    return ModelFacts(tags, tuple(calls), tuple(problems), tuple(renderings), coverage,
                      transient=transient)


# Compile-time SQL that is a query (what has columns to check); other statements (`load httpfs`,
# `create secret ...`) are left alone: sqlglot does not know all of DuckDB's commands.
_QUERY_START = re.compile(r"\s*(?:\(\s*)*(?:select|with|from|values)\b", re.IGNORECASE)


def _query_facts(rendered: Any, problems: dict[Problem, None]) -> tuple[Rendering | None, ...]:
    """Facts of the SQL a rendering runs at compile time (`run_query()`, `statement`), each
    positioned through its own source map; parse problems join the model's."""
    out = []
    for query in rendered.queries:
        if not _QUERY_START.match(_strip_comments(query.sql)):
            continue
        facts, problem = sql_facts(query.sql, rendered.relations, query.original_position)
        if problem is not None:
            problems.setdefault(problem)
        out.append(facts)
    return tuple(out)


def _strip_comments(sql: str) -> str:
    return re.sub(r"^(?:\s*(?:--[^\n]*|/\*.*?\*/))*", "", sql, flags=re.DOTALL)


def sql_facts(
    sql: str,
    relations: dict[str, Any],
    original_position: Callable[[int], Position],
) -> tuple[Rendering | None, Problem | None]:
    """Facts of one rendered SQL text, or (None, LL003 problem) when it does not parse.

    `relations` maps placeholders to the renderer's RelationCall (kind, args, line, column)."""
    statements, problem = parse(sql, original_position)
    if statements is None:
        return None, problem
    from lotus_checks.sql.resolve import resolve

    def is_placeholder(name: str) -> bool:
        call = relations.get(name)
        return call is not None and call.kind in PLACEHOLDER_KINDS

    files = {name for name, call in relations.items() if call.kind == "files"}
    found: dict[str, Relation] = {}
    reads: list[ColumnRead] = []
    aggregates: list[Aggregate] = []
    outputs = None
    for number, statement in enumerate(statements):
        try:
            resolution = resolve(statement, is_placeholder)
        except RecursionError:
            return None, _problem("LL003", "SQL nested too deeply to analyse", original_position(0))
        except Exception as exc:  # noqa: BLE001 - one odd model must not stop the whole run
            return None, _problem(
                "LL003",
                f"SQL could not be analysed ({type(exc).__name__}: a lotus-check limitation); "
                "its columns are not checked",
                original_position(0),
            )
        found.update(_relations(resolution.relations, relations, files, sql, original_position))
        reads.extend(_reads(resolution.reads, sql, original_position, number))
        aggregates.extend(_aggregate(a, sql, original_position, number)
                          for a in resolution.aggregates)
        output = resolution.output
        outputs = Outputs(tuple(output.display),
                          tuple(Star(s.rel, tuple(sorted(s.exclude))) for s in output.stars),
                          output.opaque)
    return Rendering(found, tuple(reads), tuple(aggregates), outputs), None


def _aggregate(aggregate: Any, sql: str, original_position: Callable[[int], Position],
               statement: int) -> Aggregate:
    written = aggregate.written
    function = sql[written[0]:written[1]].lower() if written else aggregate.function
    fixed = tuple(
        OuterColumn(depth, label,
                    *(original_position(offset) if offset is not None else (None, None)),
                    tuple(Origin(o.rel, o.column) for o in shadow))
        for depth, label, offset, shadow in aggregate.fixed
    )
    return Aggregate(f"{statement}:{aggregate.id}", function, tuple(aggregate.clauses),
                     tuple(aggregate.ungrouped), fixed)


@functools.lru_cache(maxsize=1)
def _duckdb() -> Any:
    """One DuckDB dialect per process (`sqlglot.parse(read=...)` builds one per call), whose
    JSON paths of plain keys (`'$.a.b'`, most of them) are built directly: sqlglot runs two
    tokenizers over each path literal, a tenth of the time a model's parse takes."""
    from sqlglot import exp
    from sqlglot.dialects.duckdb import DuckDB

    dialect = DuckDB()
    general = dialect.to_json_path

    def to_json_path(path: Any) -> Any:
        if isinstance(path, exp.Literal) and path.is_string:
            match = _PLAIN_JSON_PATH.fullmatch(path.name)
            if match is not None:
                keys = match.group(1).split(".")[1:]
                return exp.JSONPath(
                    expressions=[exp.JSONPathRoot(), *(exp.JSONPathKey(this=k) for k in keys)])
        return general(path)

    dialect.to_json_path = to_json_path  # type: ignore[method-assign]
    return dialect


# `$` then one or more `.key` of ASCII identifier characters: what sqlglot's JSON path parser
# turns into JSONPathRoot + JSONPathKey(key)... (checked against it in tests/sql).
_PLAIN_JSON_PATH = re.compile(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def parse(sql: str, original_position: Callable[[int], Position]) -> tuple[list[Any] | None, Problem | None]:
    """sqlglot statements, or None and an LL003 problem; never raises."""
    from sqlglot.errors import ParseError
    from sqlglot.errors import TokenError

    try:
        statements = [s for s in _duckdb().parse(sql) if s is not None]
    except ParseError as exc:
        offset, description = _parse_error_offset(sql, exc)
        return None, _problem("LL003", f"SQL cannot be parsed: {description}", original_position(offset))
    except TokenError:
        offset = _unterminated_offset(sql)
        return None, _problem(
            "LL003", "SQL cannot be parsed: unterminated string, identifier or comment",
            original_position(offset),
        )
    except RecursionError:
        return None, _problem("LL003", "SQL nested too deeply to parse", original_position(0))
    except Exception as exc:  # noqa: BLE001 - sqlglot bugs on odd input must not crash the run
        return None, _problem(
            "LL003", f"SQL cannot be parsed ({type(exc).__name__})", original_position(0)
        )
    return statements, None


# ---- from the resolver's findings to facts ---------------------------------------------------


def _relations(
    found: dict[str, Any],
    calls: dict[str, Any],
    files: set[str],
    sql: str,
    original_position: Callable[[int], Position],
) -> dict[str, Relation]:
    out = {}
    for rel_id, rel in found.items():
        if rel.kind == "placeholder":
            call = calls[rel.name]
            out[rel_id] = Relation(call.kind, tuple(str(a) for a in call.args), call.line,
                                   call.column)
        elif rel.kind == "file":
            paths = tuple(p for p in rel.paths if p not in files)
            runtime_files = len(paths) < len(rel.paths)
            # The var() each runtime placeholder in a path stands for ("" for an env_var()),
            # to show the path as written.
            runtime = {name: (list(calls[name].args) or [""])[0]
                       for name in files if any(name in p for p in rel.paths)}
            position: Position = (None, None)
            offset = sql.find(repr_sql(paths[0])) if paths else -1
            if runtime_files:
                call = next(calls[p] for p in rel.paths if p in files)
                position = (call.line, call.column)
            elif offset >= 0:
                position = original_position(offset)
            out[rel_id] = Relation("file", (), *position, paths, runtime_files, runtime, rel.hive,
                                   rel.filename)
        elif rel.offset is not None:
            out[rel_id] = Relation(rel.kind, (rel.name,), *original_position(rel.offset))
        else:
            out[rel_id] = Relation(rel.kind, (), None, None)
    return out


def repr_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reads(reads: list[Any], sql: str, original_position: Callable[[int], Position],
           statement: int = 0) -> list[ColumnRead]:
    def origins(read: Any, found: tuple[Any, ...]) -> tuple[Origin, ...]:
        return tuple(
            Origin(origin.rel, origin.column, tuple(
                PathStep(s.name, s.kind,
                         *(original_position(s.offset) if s.offset is not None else (None, None)))
                for s in _locate_json_steps(sql, read.offset, origin.path)))
            for origin in found
        )

    out = []
    for read in reads:
        entry = ColumnRead(read.name, *original_position(read.offset),
                           origins(read, read.candidates), read.derived, read.scope,
                           tuple(read.known), origins(read, read.shadow))
        if read.depths or read.outer is not None:
            entry = entry._replace(
                depths=tuple(read.depths), labels=tuple(read.labels),
                outer=(read.outer[0], read.outer[1]) if read.outer is not None else None,
                aggregate=None if read.aggregate is None else f"{statement}:{read.aggregate}",
                fromless=read.fromless)
        out.append(entry)
    return out


_LITERAL_STEPS = ("json", "key")


def _locate_json_steps(sql: str, start: int, steps: tuple[Any, ...]) -> tuple[Any, ...]:
    """JSON path keys and `['key']`s carry no position in sqlglot: find them in the literals after
    the column (on the same line), in order; unknown ones stay None (findings fall back to the
    column)."""
    if not any(s.kind in _LITERAL_STEPS and s.offset is None for s in steps):
        return steps
    end = sql.find("\n", start)
    end = len(sql) if end < 0 else end
    cursor = sql.find("'", start, end)
    out = []
    for step in steps:
        if step.kind in _LITERAL_STEPS and step.offset is None and cursor >= 0:
            found = sql.find(step.name, cursor + 1, end)
            if found >= 0:
                step = replace(step, offset=found)
                cursor = found + len(step.name) - 1
        out.append(step)
    return tuple(out)


def _parse_error_offset(sql: str, exc: Any) -> tuple[int, str]:
    errors = getattr(exc, "errors", None) or []
    if not errors:
        return 0, str(exc).splitlines()[0] if str(exc) else "invalid SQL"
    first = errors[0]
    description = str(first.get("description") or "invalid SQL")
    highlight = str(first.get("highlight") or "")
    line, col = first.get("line"), first.get("col")
    if not isinstance(line, int) or not isinstance(col, int) or line < 1:
        return 0, description
    index = LineIndex(sql)
    line = min(line, index.line_count)
    end = index.offset(line, max(col, 1))
    offset = max(end - len(highlight) + 1, index.offset(line, 1))
    if highlight and sql.find(highlight, offset) == offset:
        description = f"{description} near `{highlight}`"
    elif highlight:
        found = sql.rfind(highlight, 0, end + 1)
        if found >= 0:
            offset = found
        description = f"{description} near `{highlight}`"
    return min(max(offset, 0), max(len(sql) - 1, 0)), description


_OPENERS = re.compile(r"--[^\n]*|/\*|'|\"|\$\$")


def _unterminated_offset(sql: str) -> int:
    """Where a string, quoted identifier or block comment starts that never ends."""
    i = 0
    while True:
        match = _OPENERS.search(sql, i)
        if match is None:
            return 0
        token = match.group()
        if token.startswith("--"):
            i = match.end()
            continue
        closer = {"/*": "*/", "'": "'", '"': '"', "$$": "$$"}[token]
        end = sql.find(closer, match.end())
        if end < 0:
            return match.start()
        i = end + len(closer)


def _problem(code: str, message: str, position: Position) -> Problem:
    return Problem(code, message, *position)


def calls_is_incremental(text: str) -> bool:
    """Whether a template can see the is_incremental flag at all: only by that name (the dbt
    context offers no other way to reach it, and project macros are not loaded)."""
    return "is_incremental" in text


def _same_rendering(first: Any, second: Any) -> bool:
    """Whether two renderings of a model give the same facts: same SQL, relations, positions."""
    return (
        first.sql == second.sql
        and first.relations == second.relations
        and first.source_map == second.source_map
        and first.queries == second.queries
    )


def coverage_view(rendered: Any) -> Json:
    """The coverage view of a plain rendering (`CoverageView`), as JSON data for the cache."""
    return coverage_of(rendered).to_json()


def coverage_of(rendered: Any) -> CoverageView:
    """What the coverage family (LL3xx) reads from the plain rendering: the tags (None when the
    template broke before or inside config(), so they are unknown) and the source() calls."""
    known = "tags" in rendered.config or rendered.sql is not None
    sources = frozenset(
        (str(call.args[0]), str(call.args[1]))
        for call in rendered.relations.values()
        if call.kind == "source" and len(call.args) >= 2
    )
    return CoverageView(_tags(rendered.config) if known else None, sources)


def _tags(config: dict[str, Any]) -> tuple[str, ...]:
    tags = config.get("tags") if isinstance(config, dict) else None
    if isinstance(tags, str):
        return (tags,)
    if isinstance(tags, (list, tuple)):
        return tuple(t for t in tags if isinstance(t, str))
    return ()
