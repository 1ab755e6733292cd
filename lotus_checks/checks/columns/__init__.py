"""LL4xx: every column a model reads is checked against what its relations really have.

Per model, the *facts* (lotus_checks/sql/facts.py: rendered both ways, parsed, every column
resolved to the relation it comes from) are cached by content; they never depend on stream
configs. This family compares them with the stream configs, source schemas, sources files and
the other models' outputs, which is cheap and runs every time.

`relations` says what each relation a model reads offers; `calls` judges its `ref()`,
`source()` and raw paths (LL403, LL404, LL406), `reads` the columns it reads (LL401, LL402,
LL405, LL407, LL408), `subqueries` what a subquery takes from an outer query (LL409, LL410).
"""

from __future__ import annotations

from collections.abc import Iterator

from lotus_checks.checks.columns.calls import LL403
from lotus_checks.checks.columns.calls import LL404
from lotus_checks.checks.columns.calls import LL406
from lotus_checks.checks.columns.calls import check_call
from lotus_checks.checks.columns.calls import check_raw_path
from lotus_checks.checks.columns.reads import LL401
from lotus_checks.checks.columns.reads import LL402
from lotus_checks.checks.columns.reads import LL405
from lotus_checks.checks.columns.reads import LL407
from lotus_checks.checks.columns.reads import LL408
from lotus_checks.checks.columns.reads import check_read
from lotus_checks.checks.columns.relations import Schemas
from lotus_checks.checks.columns.subqueries import LL409
from lotus_checks.checks.columns.subqueries import LL410
from lotus_checks.checks.columns.subqueries import check_aggregates
from lotus_checks.checks.input import LL003
from lotus_checks.checks.input import LL004
from lotus_checks.checks.input import LL008
from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Stream
from lotus_checks.sql.facts import Rendering

RULES = (LL401, LL402, LL403, LL404, LL405, LL406, LL407, LL408, LL409, LL410)
# Input rules this family reports on models (found rendering and parsing them).
ALSO_REPORTS = (LL003, LL004, LL008)
RULES_BY_CODE = {rule.code: rule for rule in (*RULES, *ALSO_REPORTS)}


def check(ctx: CheckContext) -> Iterator[Finding]:
    schemas = Schemas(ctx)
    seen: set[Finding] = set()
    models = [model for model in ctx.repo.models if ctx.in_scope(model.path)]
    for done, model in enumerate(models, 1):
        for finding in _check_model(schemas, model):
            if finding not in seen:
                seen.add(finding)
                yield finding
        schemas.forget(model)
        ctx.progress(done, len(models))


def _check_model(schemas: Schemas, model: Model) -> Iterator[Finding]:
    facts = schemas.facts(model)
    if facts is None:
        return
    for problem in facts.problems:
        rule = RULES_BY_CODE[problem.code]
        yield rule.finding(model.path, problem.line, problem.column, problem.message,
                           hint=_problem_hint(problem.code))
    for call in facts.calls:
        yield from check_call(schemas, model, call)
    own = schemas.own_stream(model, facts)
    broken = frozenset(p.line for p in facts.problems if p.code == "LL004")
    for i, rendering in enumerate(facts.renderings):
        # A rendering that is the one before it (a model without is_incremental() differences)
        # would only find the same findings again.
        if rendering is None or (i and rendering is facts.renderings[i - 1]):
            continue
        # The model's SQL, then the SQL its run_query()/statement calls run at compile time.
        for sql in (rendering, *(q for q in rendering.queries if q is not None)):
            yield from _check_rendering(schemas, model, own, sql, broken)


def _check_rendering(
    schemas: Schemas, model: Model, own: Stream | None, rendering: Rendering,
    broken: frozenset[int | None],
) -> Iterator[Finding]:
    relations = {
        rel_id: schemas.relation(model, own, entry)
        for rel_id, entry in rendering.relations.items()
    }
    for entry in rendering.relations.values():
        yield from check_raw_path(schemas, model, own, entry, broken)
    findings, failing = check_aggregates(model, rendering, relations)
    yield from findings
    for read in rendering.reads:
        if read.aggregate not in failing:
            yield from check_read(schemas, model, read, relations)


def _problem_hint(code: str) -> str:
    if code == "LL008":
        return "split the model or simplify it (a very long chain of conditions, deep nesting)"
    if code == "LL003":
        return "fix the SQL at this position (the model's columns cannot be checked until it parses)"
    return "fix the template; columns are checked where the rest of the model allows"
