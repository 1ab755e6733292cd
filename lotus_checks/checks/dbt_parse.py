"""LL308 (`lotus-check --dbt`): lotus-check's static view of the dbt project against dbt's own parse.

The static checks predict what dbt will see: which model files it reads (the `models` folders
that `model-paths` covers), each model's tags (`config(tags=...)` plus `dbt_project.yml`), the
`ref()`s and `source()`s of each model, and the source tables the sources files declare. `dbt
parse` knows for certain. Any difference is a finding (LL308): either our view is wrong (and
other findings may be too) or dbt sees something the checks never look at.

Running dbt and reading its manifest is lotus_checks/lake/dbt_parse.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule
from lotus_checks.lake import dbt_parse

LL308 = Rule(
    "LL308",
    "dbt-disagrees",
    "dbt's own parse disagrees with lotus-check's static view of the project",
    requires_dbt=True,
    explanation="""Only with `--dbt` (needs dbt-core and dbt-duckdb, the `dbt` extra): lotus-check
runs `dbt parse` (in a temporary folder, with an in-memory DuckDB profile; or reuses a
`target/manifest.json` newer than every project file) and compares dbt's manifest with what the
static checks assume: the same model files, the same tags per model (Dagster selects by them),
the same `ref()`s and `source()`s per model and the same declared source tables. A difference
means dbt sees something the static checks do not, so their verdicts may be wrong too.

Typical causes: a model disabled with `config(enabled=false)`; a model folder in `model-paths`
that is not in lotus-check's `models`; tags set somewhere lotus-check does not read; a `ref()`
only inside `{% if is_incremental() %}` (dbt parses with `is_incremental()` false, so the
dependency is missing from its DAG); a `dbt parse` failure.

Fires on (`int_stripe__charges` refs `int_stripe__customers` only in the incremental branch):
```sql
{% if is_incremental() %}
where customer in (select customer_id from {{ ref('int_stripe__customers') }})
{% endif %}
```
Fixed: declare the dependency where dbt's parse sees it:
```sql
-- depends_on: {{ ref('int_stripe__customers') }}
```""",
)

RULES = (LL308,)


@dataclass
class ModelView:
    path: str  # relative to the repo root
    tags: frozenset[str] = frozenset()
    refs: dict[str, tuple[int | None, int | None, bool]] = field(default_factory=dict)
    sources: dict[tuple[str, str], tuple[int | None, int | None, bool]] = field(default_factory=dict)
    tags_position: tuple[int | None, int | None] = (None, None)


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.use_dbt or not ctx.enabled(LL308.code):
        return
    # dbt resolved env_var() with the real environment: no value of it is ever shown.
    secrets = dbt_parse.environment_secrets()
    for finding in _findings(ctx):
        yield replace(finding, message=dbt_parse.redact(finding.message, secrets),
                      hint=dbt_parse.redact(finding.hint, secrets))


def _findings(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.repo.is_file(ctx.config.dbt_project):
        return  # no dbt project: nothing to cross-check (coverage reports a missing project)
    project = ctx.repo.yaml(ctx.config.dbt_project)
    if project is None or not isinstance(project.data, dict):
        return  # unreadable dbt_project.yml is already an LL0xx finding
    dbt = dbt_parse.dbt_view(ctx, project.data)
    if dbt.refused:
        yield LL308.finding(
            ctx.config.dbt_project,
            None,
            None,
            f"dbt was not run: {dbt.error}",
            hint="dbt opens every project file plainly and follows links to folders: replace "
            "the file or link with a regular file or folder inside the repository",
        )
        return
    if dbt.error is not None:
        yield LL308.finding(
            ctx.config.dbt_project,
            None,
            None,
            f"dbt parse fails: {dbt.error}",
            hint="run `dbt parse` in the project for the full message; lotus-check's static "
            "checks assume a project dbt can parse",
        )
        return
    static = static_models(ctx, project.data)
    yield from compare_models(static, dbt)
    yield from compare_sources(static_source_tables(ctx, project.data), dbt)


# ---- our static view ---------------------------------------------------------------------------


def static_models(ctx: CheckContext, project: dict[str, Any]) -> dict[str, ModelView]:
    """name -> what the static checks assume dbt makes of each model it will read."""
    from lotus_checks.core.dbt_project import model_paths
    from lotus_checks.core.dbt_project import project_tags

    paths = model_paths(ctx.config.dbt_project, project)
    folders = paths.folders if paths is not None else ()
    found = project.get("vars")
    variables: dict[str, Any] = found if isinstance(found, dict) else {}
    out: dict[str, ModelView] = {}
    for model in ctx.repo.models:
        if not _covered(folders, model.path):
            continue
        text = ctx.repo.text(model.path)
        if text is None:
            continue
        view = _render_view(model.path, model.name, text, variables)
        view.tags = view.tags | frozenset(project_tags(project, model.path, folders))
        view.tags = view.tags | frozenset(_property_tags(ctx, folders).get(model.name, ()))
        out[model.name] = view
    return out


def _render_view(path: str, name: str, text: str, variables: dict[str, Any]) -> ModelView:
    from lotus_checks.sql.render import render_model

    view = ModelView(path=path)
    for incremental in (False, True):
        rendered = render_model(text, model_name=name, incremental=incremental, project_vars=variables)
        if not incremental:
            view.tags = frozenset(_as_tags(rendered.config.get("tags")))
            view.tags_position = _tags_position(text)
        for call in rendered.relations.values():
            place = (call.line, call.column, incremental)
            if call.kind == "ref" and call.args:
                view.refs.setdefault(call.args[-1], place)
            elif call.kind == "source" and len(call.args) >= 2:
                view.sources.setdefault((call.args[0], call.args[1]), place)
    return view


def _property_tags(ctx: CheckContext, folders: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    from lotus_checks.core.dbt_project import property_tags

    out: dict[str, tuple[str, ...]] = {}
    for path in ctx.repo.model_yaml_files:
        if not _covered(folders, path):
            continue
        doc = ctx.repo.yaml(path)
        for name, tags in property_tags(doc.data if doc is not None else None).items():
            out[name] = out.get(name, ()) + tags
    return out


def static_source_tables(ctx: CheckContext, project: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(source, table) -> sources file, for every table the sources files dbt reads declare."""
    from lotus_checks.core.dbt_project import model_paths

    paths = model_paths(ctx.config.dbt_project, project)
    folders = paths.folders if paths is not None else ()
    out: dict[tuple[str, str], str] = {}
    for path in ctx.repo.model_yaml_files:
        if not _covered(folders, path):
            continue
        doc = ctx.repo.yaml(path)
        sources = doc.data.get("sources") if doc is not None and isinstance(doc.data, dict) else None
        for source in sources if isinstance(sources, list) else []:
            if not isinstance(source, dict) or not isinstance(source.get("name"), str):
                continue
            for table in source.get("tables") or []:
                if isinstance(table, dict) and isinstance(table.get("name"), str):
                    out.setdefault((source["name"], table["name"]), path)
    return out


# ---- comparison --------------------------------------------------------------------------------


def compare_models(static: dict[str, ModelView], dbt: dbt_parse.DbtView) -> Iterator[Finding]:
    for name in sorted(set(static) - set(dbt.models)):
        yield LL308.finding(
            static[name].path, None, None,
            f"dbt does not read model `{name}`, though it lies in dbt's model-paths",
            hint="is it disabled (`enabled=false` in config() or dbt_project.yml)? lotus-check "
            "still checks it as a model that runs",
        )
    for name in sorted(set(dbt.models) - set(static)):
        yield LL308.finding(
            dbt.models[name]["path"], None, None,
            f"dbt builds model `{name}`, but lotus-check does not see it",
            hint="add its folder to `models` in [tool.lotus-check] (or lotus-check.toml) so its "
            "columns, tags and refs are checked",
        )
    for name in sorted(set(static) & set(dbt.models)):
        yield from _compare_model(name, static[name], dbt.models[name])


def _compare_model(name: str, ours: ModelView, theirs: dict[str, Any]) -> Iterator[Finding]:
    dbt_tags = set(theirs["tags"])
    if set(ours.tags) != dbt_tags:
        line, column = ours.tags_position
        yield LL308.finding(
            ours.path, line, column,
            f"dbt tags `{name}` with {_list(dbt_tags)}, lotus-check reads {_list(ours.tags)}",
            hint="tags set outside config() and dbt_project.yml `+tags` are invisible to the "
            "static checks; set them in the model's config()",
        )
    dbt_refs = set(theirs["refs"])
    for ref, (line, column, incremental) in sorted(ours.refs.items()):
        if ref in dbt_refs:
            continue
        hint = (
            "dbt parses with is_incremental() false, so this ref is not in its DAG: add "
            f"`-- depends_on: {{{{ ref('{ref}') }}}}` outside the if block"
            if incremental
            else "dbt's parse did not record this ref; is it inside a branch dbt does not render?"
        )
        yield LL308.finding(ours.path, line, column, f"dbt does not record ref('{ref}') of `{name}`", hint=hint)
    for ref in sorted(dbt_refs - set(ours.refs)):
        yield LL308.finding(
            ours.path, None, None,
            f"dbt records ref('{ref}') of `{name}` that lotus-check does not see",
            hint="a macro or a Jinja construct lotus-check's renderer does not follow calls it; "
            "its columns are not checked",
        )
    dbt_sources = {tuple(s) for s in theirs["sources"]}
    for src, (line, column, incremental) in sorted(ours.sources.items()):
        if src in dbt_sources:
            continue
        yield LL308.finding(
            ours.path, line, column,
            f"dbt does not record source('{src[0]}', '{src[1]}') of `{name}`",
            hint="dbt parses with is_incremental() false; move the source() out of the if block"
            if incremental
            else "dbt's parse did not record this source(); is it inside a branch dbt does not render?",
        )
    for src in sorted(dbt_sources - set(ours.sources)):
        yield LL308.finding(
            ours.path, None, None,
            f"dbt records source('{src[0]}', '{src[1]}') of `{name}` that lotus-check does not see",
            hint="a macro or a Jinja construct lotus-check's renderer does not follow calls it",
        )


def compare_sources(static: dict[tuple[str, str], str], dbt: dbt_parse.DbtView) -> Iterator[Finding]:
    for key in sorted(set(static) - set(dbt.source_tables)):
        yield LL308.finding(
            static[key], None, None,
            f"dbt does not declare source table {key[0]}.{key[1]}",
            hint="is the table or source disabled, or the file not a properties file dbt reads?",
        )
    for key in sorted(set(dbt.source_tables) - set(static)):
        yield LL308.finding(
            dbt.source_tables[key], None, None,
            f"dbt declares source table {key[0]}.{key[1]}, which lotus-check does not see",
            hint="lotus-check reads `sources:` from YAML files in its `models` folders",
        )


# ---- helpers -----------------------------------------------------------------------------------


def _covered(folders: tuple[str, ...], path: str) -> bool:
    return any(folder == "." or path.startswith(folder + "/") for folder in folders)


def _as_tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _tags_position(text: str) -> tuple[int | None, int | None]:
    import re

    match = re.search(r"\btags\s*=", text)
    if match is None:
        return None, None
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1


def _list(tags: Any) -> str:
    return "[" + ", ".join(f"'{t}'" for t in sorted(tags)) + "]" if tags else "no tags"
