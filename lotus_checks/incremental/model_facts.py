"""The engine's process pool for model facts: on a cold run, the facts of the models the run needs
that are neither in this run's memo nor in the cache are computed in worker processes before any
family runs, and handed to the repo model (`Repo.remember_facts`).

Rendering and parsing a model is CPU-bound and per model, so it scales with the cores. A worker
writes the facts to the cache itself, so only the small coverage view travels back and this
process holds no facts while the others work (the peak memory of a cold run stays that of one
process's work). Without a cache, the facts travel back as JSON text and stay in the repo's memo.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from collections.abc import Callable

from lotus_checks.incremental.cache import Cache
from lotus_checks.repo.model import FACTS_NAMESPACE
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Repo

# Below this many models to compute, a pool's start-up (forking, importing sqlglot in each
# worker on spawn platforms) costs more than it saves.
POOL_THRESHOLD = 50


def precompute(repo: Repo, models: list[Model], cache: Cache, workers: int,
               progress: Callable[[int, int], None]) -> None:
    """Compute the facts of `models` the repo does not know yet in a process pool, when there
    are many. A pool that cannot start (a sandbox) or breaks leaves the work to
    `Repo.model_facts`, in this process."""
    if workers < 2:
        return
    todo = [model for model in models if not repo.has_facts(model)]
    if len(todo) <= POOL_THRESHOLD:
        return
    from concurrent.futures import ProcessPoolExecutor

    from lotus_checks.sql._budget import cap_worker_memory
    from lotus_checks.sql.facts import import_parsers

    texts = [repo.text(model.path) or "" for model in todo]
    keys = [repo.facts_key(model, text) for model, text in zip(todo, texts)]
    variables = repo.project_vars()
    folder = str(cache.folder) if cache.folder is not None else None
    # Imported once here rather than once in each worker: where workers are forked they start
    # with sqlglot and Jinja loaded.
    import_parsers()
    try:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=cap_worker_memory)
    except Exception:  # noqa: BLE001 - no pool here (sandbox, no /dev/shm): done in-process
        return
    with pool:
        try:
            results = pool.map(compute_and_store, texts, [m.name for m in todo],
                               [variables] * len(todo), [folder] * len(todo), keys,
                               chunksize=max(1, len(todo) // (workers * 8)))
            for done, (model, key, result) in enumerate(zip(todo, keys, results), 1):
                repo.remember_facts(model, key, result["view"], result.get("facts_json"),
                                    result.get("over_budget", False))
                progress(done, len(todo))
        except Exception:  # noqa: BLE001 - the pool broke: the models left are done in-process
            pool.shutdown(wait=True, cancel_futures=True)


def compute_and_store(text: str, name: str, variables: dict[str, Any], folder: str | None,
                      key: str) -> dict[str, Any]:
    """A pool worker's job: a model's facts, written to the cache right here when there is one
    (see the module's docstring)."""
    import json

    from lotus_checks.sql.facts import model_facts

    facts = model_facts(text, name, variables)  # JSON, as the cache keeps it
    over_budget = bool(facts.get("skipped") or facts.get("transient"))
    view = facts.get("coverage") or {"tags": None, "sources": []}
    if folder is not None and not over_budget and _worker_cache(folder).put(
            FACTS_NAMESPACE, key, facts):
        return {"view": view}
    # As text: the repo keeps it so, and it travels smaller than the objects.
    return {"view": view, "over_budget": over_budget,
            "facts_json": json.dumps(facts, separators=(",", ":"))}


@functools.lru_cache(maxsize=1)
def _worker_cache(folder: str) -> Cache:
    """One Cache per worker process, so the folders it made sure of are remembered from one
    model to the next."""
    return Cache(Path(folder))

