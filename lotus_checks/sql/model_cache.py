"""Model facts for every family, once per run: from the run's memo, else the cache, else computed.

The columns family (LL4xx) needs a model's full facts (rendered both ways, parsed, resolved); the
coverage family (LL3xx) needs only its tags and source() calls, which the full facts include
(`"coverage"`, see sql/facts.py). Both ask here, so a model is rendered and parsed at most once
per run and a warm run renders nothing. The memo lives on the run's CheckContext (`ctx.memo`):
no module-level state.

When only the coverage view is wanted and the full facts will not be (a pre-commit run whose
targets do not include the model, or the columns family switched off), the model is only
rendered, and that view is cached on its own: a one-file run does not parse the whole repo.
"""

from __future__ import annotations

import json
import os
from typing import Any

from lotus_checks.context import CheckContext
from lotus_checks.repo import Model

FACTS_NAMESPACE = "sql-facts"
COVERAGE_NAMESPACE = "model-coverage"
_FACTS = "sql.model_cache.facts"
_COVERAGE = "sql.model_cache.coverage"
_VARS = "sql.model_cache.vars"
_VERSIONS = "sql.model_cache.versions"
_PREFETCHED = "sql.model_cache.prefetched"
# Below this many models to compute, a pool's start-up (forking, importing sqlglot in each
# worker on spawn platforms) costs more than it saves.
POOL_THRESHOLD = 50


def model_facts(ctx: CheckContext, model: Model, text: str) -> dict[str, Any]:
    """The full facts of `model` (its text `text`), rendered and parsed at most once per run."""
    memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_FACTS, {})
    if model.path in memo:
        return memo[model.path]
    from lotus_checks.cache import content_key
    from lotus_checks.sql import facts as sql_facts

    key = content_key(_versions(ctx), _vars_key(ctx), model.name, text)
    cached = ctx.cache.get(FACTS_NAMESPACE, key)
    if _usable(cached):
        facts = cached
    else:
        facts = sql_facts.model_facts(text, model.name, project_vars(ctx))
        if not facts.get("skipped"):  # over the time budget: try again next run, never cached
            ctx.cache.put(FACTS_NAMESPACE, key, facts)
    memo[model.path] = facts
    return facts


def prefetch(ctx: CheckContext, models: list[Model]) -> None:
    """Compute the facts of `models` that are neither memoised nor cached in a process pool, when
    there are many (a cold run): rendering and parsing is CPU-bound and per model, so it scales
    with the cores. Once per run; a pool that cannot start leaves the work to `model_facts`."""
    workers = os.cpu_count() or 1
    if ctx.memo.get(_PREFETCHED) or workers < 2:
        return
    ctx.memo[_PREFETCHED] = True
    from lotus_checks.cache import content_key

    memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_FACTS, {})
    todo: list[tuple[Model, str]] = []
    for model in models:
        text = ctx.repo.text(model.path)
        if model.path in memo or text is None:
            continue
        key = content_key(_versions(ctx), _vars_key(ctx), model.name, text)
        cached = ctx.cache.get(FACTS_NAMESPACE, key)
        if _usable(cached):
            memo[model.path] = cached
        else:
            todo.append((model, key))
    if len(todo) > POOL_THRESHOLD:
        _compute_in_pool(ctx, todo, workers)


def _compute_in_pool(ctx: CheckContext, todo: list[tuple[Model, str]], workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from lotus_checks.sql.facts import model_facts as compute

    memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_FACTS, {})
    names = [model.name for model, _ in todo]
    texts = [ctx.repo.text(model.path) for model, _ in todo]
    variables = [project_vars(ctx)] * len(todo)
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(compute, texts, names, variables,
                               chunksize=max(1, len(todo) // (workers * 8)))
            for done, ((model, key), facts) in enumerate(zip(todo, results), 1):
                memo[model.path] = facts
                if not facts.get("skipped"):
                    ctx.cache.put(FACTS_NAMESPACE, key, facts)
                ctx.progress(done, len(todo))
    except Exception:  # noqa: BLE001 - no pool here (sandbox, no /dev/shm): models left are done in-process
        return


def _usable(cached: Any) -> bool:
    return isinstance(cached, dict) and "renderings" in cached and "coverage" in cached


def model_coverage(ctx: CheckContext, model: Model, wants_facts: bool) -> dict[str, Any] | None:
    """{"tags": [...] | None, "sources": [[source, table], ...]} of the plain rendering; None when
    the model cannot be read. `wants_facts`: the run needs this model's full facts anyway."""
    text = ctx.repo.text(model.path)
    if text is None:
        return None
    facts_memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_FACTS, {})
    if wants_facts or model.path in facts_memo:
        if wants_facts:  # then every model in scope is wanted: compute them together
            prefetch(ctx, [m for m in ctx.repo.models if ctx.in_scope(m.path)])
        return _coverage_of(model_facts(ctx, model, text))
    memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_COVERAGE, {})
    if model.path not in memo:
        memo[model.path] = _coverage_only(ctx, model, text)
    return memo[model.path]


def _coverage_of(facts: dict[str, Any]) -> dict[str, Any]:
    # Facts skipped over the CPU budget have no coverage view: tags unknown (LL008 says why).
    return facts.get("coverage") or {"tags": None, "sources": []}


def _coverage_only(ctx: CheckContext, model: Model, text: str) -> dict[str, Any]:
    from lotus_checks.cache import content_key

    key = content_key(_versions(ctx), _vars_key(ctx), model.name, text)
    full = ctx.cache.get(FACTS_NAMESPACE, key)
    if isinstance(full, dict) and isinstance(full.get("coverage"), dict):
        return full["coverage"]  # type: ignore[no-any-return]
    cached = ctx.cache.get(COVERAGE_NAMESPACE, key)
    if isinstance(cached, dict) and "tags" in cached and isinstance(cached.get("sources"), list):
        return cached
    from lotus_checks.sql.facts import coverage_view
    from lotus_checks.sql.render import render_model

    rendered = render_model(text, model_name=model.name, project_vars=project_vars(ctx))
    view = coverage_view(rendered)
    ctx.cache.put(COVERAGE_NAMESPACE, key, view)
    return view


def project_vars(ctx: CheckContext) -> dict[str, Any]:
    """`vars:` of dbt_project.yml (`var('raw_root')` renders with them)."""
    if _VARS not in ctx.memo:
        project = ctx.config.dbt_project
        doc = ctx.repo.yaml(project) if (ctx.config.root / project).is_file() else None
        data = doc.data if doc is not None else None
        found = data.get("vars") if isinstance(data, dict) else None
        ctx.memo[_VARS] = found if isinstance(found, dict) else {}
    return ctx.memo[_VARS]  # type: ignore[no-any-return]


def _vars_key(ctx: CheckContext) -> str:
    return json.dumps(project_vars(ctx), sort_keys=True, default=str)


def _versions(ctx: CheckContext) -> str:
    if _VERSIONS not in ctx.memo:
        from lotus_checks.sql.facts import versions

        ctx.memo[_VERSIONS] = versions()
    return ctx.memo[_VERSIONS]  # type: ignore[no-any-return]
