"""Per-model facts: what a model reads and outputs, as JSON-serialisable data.

Facts depend only on the model's text and name (and the checker's and sqlglot's versions), never on
stream configs or other models, so they are cached by content and a stream config change does not
invalidate them; the comparison against schemas (checks/columns.py) runs every time.

Shape (positions are 1-based line/column in the *original* .sql file):
```
{"config": {"tags": [...]},
 "calls": [{"kind": "source"|"ref"|"this"|"files", "args": [...], "line", "column"}],
 "problems": [{"code": "LL003"|"LL004", "message", "line", "column"}],
 "coverage": {"tags": [...] | None, "sources": [[source, table], ...]},  # plain rendering
 "renderings": [  # is_incremental() False, then True (each None if it did not parse)
   {"queries": [...],  # only when it runs SQL at compile time (run_query, statement): one
                       # entry like this one per query (None if it did not parse)
    "relations": {id: {"kind": "source"|"ref"|"this"|"file"|"table", "args", "paths", "files",
                       "runtime", "hive", "filename", "line", "column"}},
    "reads": [{"name", "line", "column", "cands": [[rel, column, [[step, kind, line, col], ...]]],
               "derived", "scope", "known",
               # only for names a subquery may take from an outer query (resolve.ColumnRead):
               "depths": [...], "labels": [...], "outer": [depth, label] | None, "aggregate": id,
               "fromless": bool,
               # only for a qualified read through an outer alias that inner columns may hide:
               "shadow": [like "cands"]}],
    "aggregates": [{"id", "function", "clauses": [...], "ungrouped": [bool, ...],
                    "fixed": [[depth, label, line, col, [[rel, column], ...]]]}],
    "outputs": {"names": [...], "stars": [[rel, [excluded...]]], "opaque": bool}}]}
```
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any
from typing import Callable

from lotus_checks.loaders import LineIndex

FACTS_VERSION = "5"  # 2: "coverage"; 3: correlation, aggregates, "key" steps, "queries";
# 4: runtime var() names in "files" calls; 5: "shadow", "ungrouped"
PLACEHOLDER_KINDS = ("source", "ref", "this")
Position = tuple[int | None, int | None]


def versions() -> str:
    """What facts depend on besides the model text (no sqlglot import: warm runs never need it)."""
    from lotus_checks import __version__

    return f"{FACTS_VERSION}/{__version__}/sqlglot {_sqlglot_version()}"


def _sqlglot_version() -> str:
    """From sqlglot/_version.py's text: importing it imports sqlglot, and importlib.metadata
    costs tens of milliseconds, more than a one-file run's own work."""
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


def model_facts(text: str, model_name: str, project_vars: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render the model both ways (is_incremental() False/True), parse, resolve: its facts.

    All of it within a CPU budget per model: past it, the facts are one LL008 problem and
    `"skipped": true` (not to be cached: the budget depends on the machine)."""
    from lotus_checks.sql import _budget

    import_parsers()  # once per process, outside the budget: start-up is not the model's cost
    try:
        with _budget.cpu_time_limit(_budget.MODEL_SECONDS):
            return _model_facts(text, model_name, project_vars)
    except _budget.TimeLimitExceeded:
        message = (
            f"checking this model took over {_budget.MODEL_SECONDS:g} s of CPU time (the "
            "per-file budget); it was skipped, nothing in it was checked"
        )
        return {
            "config": {"tags": []}, "calls": [], "renderings": [], "skipped": True,
            "coverage": {"tags": None, "sources": []},  # unknown, as for a broken template
            "problems": [_problem("LL008", message, (None, None))],
        }


def import_parsers() -> None:
    import sqlglot.dialects.duckdb  # noqa: F401 - sqlglot loads dialects on first use

    from lotus_checks.sql import _jinja  # noqa: F401
    from lotus_checks.sql import resolve  # noqa: F401


def _model_facts(text: str, model_name: str, project_vars: dict[str, Any] | None) -> dict[str, Any]:
    from lotus_checks.sql.render import render_model

    facts: dict[str, Any] = {"config": {"tags": []}, "calls": [], "problems": [], "renderings": []}
    calls: dict[tuple, dict[str, Any]] = {}
    problems: dict[tuple, dict[str, Any]] = {}
    plain: tuple[Any, tuple[dict[str, Any] | None, dict[str, Any] | None]] | None = None
    rendered = None
    for incremental in (False, True):
        if rendered is None or calls_is_incremental(text):
            rendered = render_model(
                text, model_name=model_name, incremental=incremental, project_vars=project_vars
            )
        # else: the template never names is_incremental(), the one thing the flag changes, so
        # the second rendering is the first (rendering is deterministic).
        if rendered.timed_out:
            facts["transient"] = True  # a faster machine may render it: never cached
        if not incremental:
            facts["config"] = {"tags": _tags(rendered.config)}
            facts["coverage"] = coverage_view(rendered)
        for problem in rendered.problems:
            entry = _problem("LL004", problem.message, (problem.line, problem.column))
            problems.setdefault(_key(entry), entry)
        for call in rendered.relations.values():
            entry = {
                "kind": call.kind,
                "args": [str(a) for a in call.args],
                "line": call.line,
                "column": call.column,
            }
            calls.setdefault(_key(entry), entry)
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
                    rendering["queries"] = _query_facts(rendered, problems)
            plain = (rendered, (rendering, problem))
            if problem is not None:
                problems.setdefault(_key(problem), problem)
        facts["renderings"].append(rendering)
    facts["calls"] = list(calls.values())
    facts["problems"] = list(problems.values())
    return facts


# Compile-time SQL that is a query (what has columns to check); other statements (`load httpfs`,
# `create secret ...`) are left alone: sqlglot does not know all of DuckDB's commands.
_QUERY_START = re.compile(r"\s*(?:\(\s*)*(?:select|with|from|values)\b", re.IGNORECASE)


def _query_facts(rendered: Any, problems: dict[tuple, dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Facts of the SQL a rendering runs at compile time (`run_query()`, `statement`), each
    positioned through its own source map; parse problems join the model's."""
    out = []
    for query in rendered.queries:
        if not _QUERY_START.match(_strip_comments(query.sql)):
            continue
        facts, problem = sql_facts(query.sql, rendered.relations, query.original_position)
        if problem is not None:
            problems.setdefault(_key(problem), problem)
        out.append(facts)
    return out


def _strip_comments(sql: str) -> str:
    return re.sub(r"^(?:\s*(?:--[^\n]*|/\*.*?\*/))*", "", sql, flags=re.DOTALL)


def sql_facts(
    sql: str,
    relations: dict[str, Any],
    original_position: Callable[[int], Position],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
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
    out: dict[str, Any] = {"relations": {}, "reads": [], "aggregates": [], "outputs": None}
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
        out["relations"].update(
            _relations(resolution.relations, relations, files, sql, original_position)
        )
        out["reads"].extend(_reads(resolution.reads, sql, original_position, number))
        out["aggregates"].extend(
            {"id": f"{number}:{a.id}",
             "function": sql[a.written[0]:a.written[1]].lower() if a.written else a.function,
             "clauses": list(a.clauses), "ungrouped": list(a.ungrouped),
             "fixed": [[depth, label, *(original_position(offset) if offset is not None
                                        else (None, None)),
                        [[o.rel, o.column] for o in shadow]]
                       for depth, label, offset, shadow in a.fixed]}
            for a in resolution.aggregates
        )
        output = resolution.output
        out["outputs"] = {
            "names": list(output.display),
            "stars": [[s.rel, sorted(s.exclude)] for s in output.stars],
            "opaque": output.opaque,
        }
    return out, None


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

    dialect.to_json_path = to_json_path
    return dialect


# `$` then one or more `.key` of ASCII identifier characters: what sqlglot's JSON path parser
# turns into JSONPathRoot + JSONPathKey(key)... (checked against it in tests/sql).
_PLAIN_JSON_PATH = re.compile(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def parse(sql: str, original_position: Callable[[int], Position]) -> tuple[list[Any] | None, dict[str, Any] | None]:
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


# ---- conversion to JSON facts --------------------------------------------------------------


def _relations(
    found: dict[str, Any],
    calls: dict[str, Any],
    files: set[str],
    sql: str,
    original_position: Callable[[int], Position],
) -> dict[str, dict[str, Any]]:
    out = {}
    for rel_id, rel in found.items():
        entry: dict[str, Any] = {"kind": rel.kind, "args": [], "paths": [], "files": False,
                                 "hive": rel.hive, "filename": rel.filename,
                                 "line": None, "column": None}
        if rel.kind == "placeholder":
            call = calls[rel.name]
            entry.update(kind=call.kind, args=[str(a) for a in call.args],
                         line=call.line, column=call.column)
        elif rel.kind == "file":
            paths = [p for p in rel.paths if p not in files]
            entry["files"] = len(paths) < len(rel.paths)
            entry["paths"] = paths
            # The var() each runtime placeholder in a path stands for ("" for an env_var()),
            # to show the path as written.
            entry["runtime"] = {name: (list(calls[name].args) or [""])[0]
                                for name in files if any(name in p for p in rel.paths)}
            offset = sql.find(repr_sql(paths[0])) if paths else -1
            if entry["files"]:
                call = next(calls[p] for p in rel.paths if p in files)
                entry.update(line=call.line, column=call.column)
            elif offset >= 0:
                entry["line"], entry["column"] = original_position(offset)
        elif rel.offset is not None:
            entry["args"] = [rel.name]
            entry["line"], entry["column"] = original_position(rel.offset)
        out[rel_id] = entry
    return out


def repr_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reads(reads: list[Any], sql: str, original_position: Callable[[int], Position],
           statement: int = 0) -> list[dict[str, Any]]:
    out = []

    def origins(read: Any, found: tuple[Any, ...]) -> list[list[Any]]:
        out = []
        for origin in found:
            steps = _locate_json_steps(sql, read.offset, origin.path)
            out.append([
                origin.rel,
                origin.column,
                [[s.name, s.kind, *(original_position(s.offset) if s.offset is not None else (None, None))]
                 for s in steps],
            ])
        return out

    for read in reads:
        line, column = original_position(read.offset)
        entry = {
            "name": read.name, "line": line, "column": column,
            "cands": origins(read, read.candidates),
            "derived": read.derived, "scope": read.scope, "known": list(read.known),
        }
        if read.shadow:
            entry["shadow"] = origins(read, read.shadow)
        if read.depths or read.outer is not None:
            entry.update(depths=list(read.depths), labels=list(read.labels),
                         outer=list(read.outer) if read.outer is not None else None,
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
    from dataclasses import replace

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


def _problem(code: str, message: str, position: Position) -> dict[str, Any]:
    line, column = position
    return {"code": code, "message": message, "line": line, "column": column}


def _key(entry: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in entry.items()))


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


def coverage_view(rendered: Any) -> dict[str, Any]:
    """What the coverage family (LL3xx) reads from the plain rendering: the tags (None when the
    template broke before or inside config(), so they are unknown) and the source() calls."""
    known = "tags" in rendered.config or rendered.sql is not None
    sources = sorted({
        (str(call.args[0]), str(call.args[1]))
        for call in rendered.relations.values()
        if call.kind == "source" and len(call.args) >= 2
    })
    return {"tags": _tags(rendered.config) if known else None, "sources": [list(s) for s in sources]}


def _tags(config: dict[str, Any]) -> list[str]:
    tags = config.get("tags") if isinstance(config, dict) else None
    if isinstance(tags, str):
        return [tags]
    if isinstance(tags, (list, tuple)):
        return [t for t in tags if isinstance(t, str)]
    return []
