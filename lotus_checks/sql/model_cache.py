"""Model facts for every family, once per run: from the run's memo, else the cache, else computed.

The columns family (LL4xx) needs a model's full facts (rendered both ways, parsed, resolved); the
coverage family (LL3xx) needs only its tags and source() calls, which the full facts include
(`"coverage"`, see sql/facts.py). Both ask here, so a model is rendered and parsed at most once
per run and a warm run renders nothing. The memo lives on the run's CheckContext (`ctx.memo`):
no module-level state.

The coverage view is also cached on its own (small), so coverage never loads full facts on a
warm run. When only the coverage view is wanted and the full facts will not be (a pre-commit run
whose targets do not include the model, or the columns family switched off), the model is only
rendered: a one-file run does not parse the whole repo.

Memory: full facts stay in the memo only when they could not be cached (--no-cache, a read-only
checkout, a model over its CPU budget), so they are never computed twice, and then as JSON text
(decoded on each use); otherwise the cache holds them and the columns family keeps them only
while it needs them.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING
from typing import Any

from lotus_checks.context import CheckContext
from lotus_checks.repo import Model

if TYPE_CHECKING:
    from lotus_checks.cache import Cache

FACTS_NAMESPACE = "sql-facts"
COVERAGE_NAMESPACE = "model-coverage"
_FACTS = "sql.model_cache.facts"
_COVERAGE = "sql.model_cache.coverage"
_VARS = "sql.model_cache.vars"
_VARS_KEY = "sql.model_cache.vars_key"
_VERSIONS = "sql.model_cache.versions"
_PREFETCHED = "sql.model_cache.prefetched"
_PENDING = "sql.model_cache.pending"
_COVERAGE_PREFETCHED = "sql.model_cache.coverage_prefetched"
_OVER_BUDGET = "sql.model_cache.over_budget"
# Below this many models to compute, a pool's start-up (forking, importing sqlglot in each
# worker on spawn platforms) costs more than it saves.
POOL_THRESHOLD = 50


def model_facts(ctx: CheckContext, model: Model, text: str) -> dict[str, Any]:
    """The full facts of `model` (its text `text`), rendered and parsed at most once per run."""
    facts = _model_facts(ctx, model, text)
    _note_budget(ctx, model)
    return facts


def _note_budget(ctx: CheckContext, model: Model) -> None:
    """Facts (and the view from them) of a model over its CPU budget depend on the machine:
    whoever uses them is not recorded for replay."""
    if model.path in ctx.memo.get(_OVER_BUDGET, ()):
        ctx.repo.mark_transient()


def _model_facts(ctx: CheckContext, model: Model, text: str) -> dict[str, Any]:
    memo: dict[str, str] = ctx.memo.setdefault(_FACTS, {})
    if model.path in memo:
        return json.loads(memo[model.path])  # type: ignore[no-any-return]
    from lotus_checks.sql import facts as sql_facts

    key = _key(ctx, model, text)
    cached = ctx.cache.get(FACTS_NAMESPACE, key)
    if _usable(cached):
        return cached  # type: ignore[no-any-return]
    facts = sql_facts.model_facts(text, model.name, project_vars(ctx))
    _store(ctx, model, key, facts)
    return facts


def _store(ctx: CheckContext, model: Model, key: str, facts: dict[str, Any]) -> None:
    """Cache freshly computed facts and their coverage view; keep in memory what was not cached."""
    view = _coverage_of(facts)
    ctx.memo.setdefault(_COVERAGE, {})[model.path] = view
    # Over a time budget: try again next run, never cached (the budget depends on the machine).
    if not _over_budget(facts) and ctx.cache.put(FACTS_NAMESPACE, key, facts):
        ctx.cache.put(COVERAGE_NAMESPACE, key, view)
    else:
        _keep(ctx, model, _facts_json(facts), _over_budget(facts))


def _keep(ctx: CheckContext, model: Model, facts_json: str, over_budget: bool) -> None:
    """Hold facts that could not be cached for the rest of the run, as JSON text: a sixth of
    the memory of the objects (what keeps L's `--no-cache` peak under 300 MB)."""
    ctx.memo.setdefault(_FACTS, {})[model.path] = facts_json
    if over_budget:
        ctx.memo.setdefault(_OVER_BUDGET, set()).add(model.path)


def _facts_json(facts: dict[str, Any]) -> str:
    return json.dumps(facts, separators=(",", ":"))


def _over_budget(facts: dict[str, Any]) -> bool:
    """Skipped over the CPU budget (LL008), or a rendering ran out of wall-clock time."""
    return bool(facts.get("skipped") or facts.get("transient"))


def prefetch(ctx: CheckContext, models: list[Model]) -> None:
    """Compute the facts of `models` that are neither memoised nor cached in a process pool, when
    there are many (a cold run): rendering and parsing is CPU-bound and per model, so it scales
    with the cores. Once per run; a pool that cannot start leaves the work to `model_facts`."""
    start_prefetch(ctx, models)
    pending = ctx.memo.pop(_PENDING, None)
    if pending is not None:
        _collect(ctx, *pending)


def start_prefetch(ctx: CheckContext, models: list[Model]) -> None:
    """`prefetch` without waiting: the pool works while this process does other things; the
    first `prefetch` collects. Once per run."""
    workers = ctx.jobs
    if ctx.memo.get(_PREFETCHED) or workers < 2:
        return
    ctx.memo[_PREFETCHED] = True
    memo: dict[str, str] = ctx.memo.setdefault(_FACTS, {})
    todo: list[tuple[Model, str]] = []
    for model in models:
        text = ctx.repo.text(model.path)
        if model.path in memo or text is None:
            continue
        key = _key(ctx, model, text)
        if not ctx.cache.has(FACTS_NAMESPACE, key):
            todo.append((model, key))
    if len(todo) > POOL_THRESHOLD:
        _start_pool(ctx, todo, workers)


def _start_pool(ctx: CheckContext, todo: list[tuple[Model, str]], workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    names = [model.name for model, _ in todo]
    texts = [ctx.repo.text(model.path) for model, _ in todo]
    variables = [project_vars(ctx)] * len(todo)
    folder = str(ctx.cache.folder) if ctx.cache.folder is not None else None
    from lotus_checks.sql.facts import import_parsers

    # Imported once here rather than once in each worker: where workers are forked they start
    # with sqlglot and Jinja loaded (a fifth of a second of CPU each otherwise).
    import_parsers()
    try:
        from lotus_checks.sql._budget import cap_worker_memory

        pool = ProcessPoolExecutor(max_workers=workers, initializer=cap_worker_memory)
    except Exception:  # noqa: BLE001 - no pool here (sandbox, no /dev/shm): done in-process
        return
    ctx.at_end(lambda: pool.shutdown(wait=True, cancel_futures=True))
    try:
        results = pool.map(compute_and_store, texts, names, variables, [folder] * len(todo),
                           [key for _, key in todo],
                           chunksize=max(1, len(todo) // (workers * 8)))
    except Exception:  # noqa: BLE001 - as above
        return
    ctx.memo[_PENDING] = (todo, results)


def compute_and_store(text: str, name: str, variables: dict[str, Any], folder: str | None,
                      key: str) -> dict[str, Any]:
    """A pool worker's job: a model's facts, written to the cache right here when there is one,
    so only the small coverage view travels back (this process holds no facts while the others
    run: the peak memory of a cold run stays that of one process's work)."""
    from lotus_checks.sql.facts import model_facts as compute

    facts = compute(text, name, variables)
    if folder is not None and not _over_budget(facts):
        if _worker_cache(folder).put(FACTS_NAMESPACE, key, facts):
            # The view goes to the coverage pack, which the parent writes (cache.py).
            return {"stored": True, "view": _coverage_of(facts)}
    # As text: the parent keeps it so (`_keep`), and it travels smaller than the objects.
    return {"stored": False, "view": _coverage_of(facts), "over_budget": _over_budget(facts),
            "facts_json": _facts_json(facts)}


@functools.lru_cache(maxsize=1)
def _worker_cache(folder: str) -> Cache:
    """One Cache per worker process, so the folders it made sure of are remembered from one
    model to the next (a worker writes hundreds of entries)."""
    from pathlib import Path

    from lotus_checks.cache import Cache

    return Cache(Path(folder))


def _collect(ctx: CheckContext, todo: list[tuple[Model, str]], results: Any) -> None:
    try:
        for done, ((model, key), result) in enumerate(zip(todo, results), 1):
            ctx.memo.setdefault(_COVERAGE, {})[model.path] = result["view"]
            if result["stored"]:  # facts in the cache already: keep only the view
                ctx.cache.put(COVERAGE_NAMESPACE, key, result["view"])
            else:
                _keep(ctx, model, result["facts_json"], result["over_budget"])
            ctx.progress(done, len(todo))
    except Exception:  # noqa: BLE001 - the pool broke: the models left are done in-process
        return


def _usable(cached: Any) -> bool:
    return isinstance(cached, dict) and "renderings" in cached and "coverage" in cached


def model_coverage(ctx: CheckContext, model: Model, wants_facts: bool) -> dict[str, Any] | None:
    """{"tags": [...] | None, "sources": [[source, table], ...]} of the plain rendering; None when
    the model cannot be read. `wants_facts`: the run needs this model's full facts anyway."""
    view = _model_coverage(ctx, model, wants_facts)
    _note_budget(ctx, model)
    return view


def _model_coverage(ctx: CheckContext, model: Model, wants_facts: bool) -> dict[str, Any] | None:
    text = ctx.repo.text(model.path)
    if text is None:
        return None
    memo: dict[str, dict[str, Any]] = ctx.memo.setdefault(_COVERAGE, {})
    if model.path in memo:
        return memo[model.path]
    if wants_facts and not ctx.memo.get(_COVERAGE_PREFETCHED):
        # Then every model in scope is wanted: compute the missing ones together, once.
        ctx.memo[_COVERAGE_PREFETCHED] = True
        prefetch(ctx, [m for m in ctx.repo.models if ctx.in_scope(m.path)])
        if model.path in memo:
            return memo[model.path]
    key = _key(ctx, model, text)
    cached = ctx.cache.get(COVERAGE_NAMESPACE, key)
    if _usable_view(cached):
        view: dict[str, Any] = cached
    elif wants_facts or model.path in ctx.memo.get(_FACTS, {}):
        facts = _model_facts(ctx, model, text)
        view = _coverage_of(facts)
        if model.path not in memo and not _over_budget(facts):
            ctx.cache.put(COVERAGE_NAMESPACE, key, view)  # facts cached by an older run: add it
    else:
        view = _coverage_only(ctx, model, text, key)
    memo[model.path] = view
    return view


def _usable_view(cached: Any) -> bool:
    return isinstance(cached, dict) and "tags" in cached and isinstance(cached.get("sources"), list)


def _coverage_of(facts: dict[str, Any]) -> dict[str, Any]:
    # Facts skipped over the CPU budget have no coverage view: tags unknown (LL008 says why).
    return facts.get("coverage") or {"tags": None, "sources": []}


def _coverage_only(ctx: CheckContext, model: Model, text: str, key: str) -> dict[str, Any]:
    from lotus_checks.sql.facts import coverage_view
    from lotus_checks.sql.render import render_model

    rendered = render_model(text, model_name=model.name, project_vars=project_vars(ctx))
    view = coverage_view(rendered)
    if rendered.timed_out:
        ctx.memo.setdefault(_OVER_BUDGET, set()).add(model.path)  # never cached nor replayed
    else:
        ctx.cache.put(COVERAGE_NAMESPACE, key, view)
    return view


def _key(ctx: CheckContext, model: Model, text: str) -> str:
    from lotus_checks.cache import content_key

    return content_key(_versions(ctx), _vars_key(ctx), model.name, text)


def project_vars(ctx: CheckContext) -> dict[str, Any]:
    """`vars:` of dbt_project.yml (`var('raw_root')` renders with them)."""
    def read() -> dict[str, Any]:
        project = ctx.config.dbt_project
        doc = ctx.repo.yaml(project) if ctx.repo.is_file(project) else None
        data = doc.data if doc is not None else None
        found = data.get("vars") if isinstance(data, dict) else None
        return found if isinstance(found, dict) else {}

    return ctx.repo.shared(ctx.memo, _VARS, read)


def _vars_key(ctx: CheckContext) -> str:
    return ctx.repo.shared(ctx.memo, _VARS_KEY,
                           lambda: json.dumps(project_vars(ctx), sort_keys=True, default=str))


def _versions(ctx: CheckContext) -> str:
    if _VERSIONS not in ctx.memo:
        from lotus_checks.sql.facts import versions

        ctx.memo[_VERSIONS] = versions()
    return ctx.memo[_VERSIONS]  # type: ignore[no-any-return]
