"""What rendering a dbt model gives: the rendered SQL with its source map, the `config()`
kwargs, the relations it reads, the SQL it runs while compiling, and the problems met.

The types only, so that `render.py` (the entry point) and its internals (`_jinja.py`, `_dbt.py`)
all import them from here and none imports another back.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from lotus_checks.sql.sourcemap import SourceMap


@dataclass(frozen=True)
class RelationCall:
    """A `source()`/`ref()`/`this`/`var("files")` use in the template."""

    placeholder: str  # the identifier rendered into the SQL in its place
    kind: str  # "source" | "ref" | "this" | "files"
    args: tuple[str, ...]  # ("shopify", "orders") for source, ("int_x",) for ref; () otherwise
    line: int  # 1-based position of the call in the original .sql template
    column: int


@dataclass(frozen=True)
class TemplateProblem:
    """Why (part of) a template could not be rendered faithfully; reported as LL004."""

    message: str
    line: int | None
    column: int | None


@dataclass(frozen=True)
class CompileQuery:
    """SQL the model hands to `run_query()` or `{% call statement(...) %}`: dbt runs it while
    compiling the model (e.g. reading `{{ this }}` to find where an incremental run resumes)."""

    sql: str
    source_map: SourceMap = field(repr=False)

    def original_position(self, offset: int) -> tuple[int, int]:
        return self.source_map.original_position(offset)


@dataclass(frozen=True)
class RenderedModel:
    sql: str | None  # None when the template cannot be rendered at all
    config: dict[str, Any]  # merged kwargs of every config(...) call
    relations: dict[str, RelationCall]  # placeholder -> call
    problems: tuple[TemplateProblem, ...]
    source_map: SourceMap | None = field(default=None, repr=False, compare=False)
    # The rendering ran out of wall-clock time: a machine-dependent result (never cached).
    timed_out: bool = False
    queries: tuple[CompileQuery, ...] = ()  # in the order the template runs them

    def original_position(self, offset: int) -> tuple[int, int]:
        """Offset in `sql` -> (line, column), 1-based, in the template file."""
        if self.source_map is None:
            return 1, 1
        return self.source_map.original_position(offset)
