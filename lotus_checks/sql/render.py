"""Render a dbt model's Jinja with a dbt-compatible stand-in context, in a sandbox.

`render_model()` never raises for bad templates: syntax errors, unknown macros, undefined names,
unsafe attribute access and runaway templates (recursion, huge loops or output) come back as
`TemplateProblem`s, which the columns family reports as LL004. `ref()`, `source()`, `this` and
`var("files")` render to placeholder identifiers recorded in `relations`, so the SQL resolver
knows what each relation is without a warehouse. SQL handed to `run_query()` and
`{% call statement(...) %}` comes back in `queries`, with its own source map. `original_position()` maps an offset in the
rendered SQL back to the line and column of the original `.sql` file.

Jinja is imported lazily (in `lotus_checks.sql._jinja`): importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from lotus_checks.sql.rendered import CompileQuery
from lotus_checks.sql.rendered import RelationCall
from lotus_checks.sql.rendered import RenderedModel
from lotus_checks.sql.rendered import TemplateProblem

# The result types live in rendered.py, which the internals import too; callers take them here.
__all__ = ["CompileQuery", "RelationCall", "RenderedModel", "TemplateProblem", "render_model"]


def render_model(
    template: str,
    *,
    model_name: str,
    incremental: bool = False,
    project_vars: Mapping[str, Any] | None = None,
) -> RenderedModel:
    """Render one model template; problems are returned, never raised."""
    from lotus_checks.sql import _jinja

    return _jinja.render(
        template,
        model_name=model_name,
        incremental=incremental,
        project_vars=dict(project_vars or {}),
    )
