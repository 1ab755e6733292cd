"""The engine's process pool for model facts: on a cold run, the facts of the models the run needs
that are neither in this run's memo nor in the cache are computed in worker processes while the
families run, and handed to the repo model (`Repo.remember_facts`) as they arrive.

Rendering and parsing a model is CPU-bound and per model, so it scales with the cores. A worker
writes the facts to the cache itself, so only the small coverage view travels back and this
process holds no facts while the others work (the peak memory of a cold run stays that of one
process's work). Without a cache, the facts travel back as JSON text and stay in the repo's memo.

The families do not wait for the pool to finish before they start: the repo model is told which
models' facts are on their way (`Repo.expect_facts`), and a family asking for one of them waits
for that one (`FactsPool.wait_for`, which hands in every result that arrives before it). Until
then this process checks what needs no model facts (stream configs, the catalogs, with the
generator running in a process of its own). No thread of ours is involved: the results are read
in this thread, when a family asks.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from collections.abc import Callable
from collections.abc import Iterator

from lotus_checks.incremental.cache import Cache
from lotus_checks.repo.model import FACTS_NAMESPACE
from lotus_checks.repo.model import Model
from lotus_checks.repo.model import Repo

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Below this many models to compute, a pool's start-up (forking, importing sqlglot in each
# worker on spawn platforms) costs more than it saves.
POOL_THRESHOLD = 50


class FactsPool:
    """The pool's results not yet handed to the repo model, read in order as families ask."""

    def __init__(self, repo: Repo, pool: ProcessPoolExecutor,
                 items: Iterator[tuple[Model, str, dict[str, Any]]], total: int,
                 progress: Callable[[int, int], None]):
        self.repo = repo
        self.pool: ProcessPoolExecutor | None = pool
        self.items = items
        self.total = total
        self.progress = progress
        self.handed: set[str] = set()

    def wait_for(self, path: str) -> None:
        """Hand in results until the facts of the model at `path` are in (or the pool has
        nothing more: a broken pool leaves the rest to `Repo.model_facts`, in this process)."""
        while path not in self.handed and self._hand_in_next():
            pass

    def finish(self) -> None:
        """Hand in every result no family asked for (the cache gets them all, as the run's
        result needs every over-budget mark), then end the pool."""
        while self._hand_in_next():
            pass
        self.close()

    def close(self) -> None:
        """End the pool, cancelling what has not started (a family raised, Ctrl-C). Safe to
        call more than once."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _hand_in_next(self) -> bool:
        if self.pool is None:
            return False
        try:
            model, key, result = next(self.items)
        except StopIteration:
            self.close()
            return False
        except Exception:  # noqa: BLE001 - the pool broke: the models left are done in-process
            self.close()
            return False
        self.repo.remember_facts(model, key, result["view"], result.get("facts_json"),
                                 result.get("over_budget", False))
        self.handed.add(model.path)
        self.progress(len(self.handed), self.total)
        return True


def start(repo: Repo, models: list[Model], cache: Cache, workers: int,
          progress: Callable[[int, int], None]) -> FactsPool | None:
    """Start computing the facts of `models` the repo does not know yet in a process pool, when
    there are many, and tell the repo model they are on their way. None when there is no pool
    (few models, one worker, a sandbox where it cannot start): the facts are computed in this
    process when asked for."""
    if workers < 2:
        return None
    todo = [model for model in models if not repo.has_facts(model)]
    if len(todo) <= POOL_THRESHOLD:
        return None
    from concurrent.futures import ProcessPoolExecutor

    from lotus_checks.sql.facts import import_parsers

    texts = [repo.text(model.path) or "" for model in todo]
    keys = [repo.facts_key(model, text) for model, text in zip(todo, texts)]
    variables = repo.project_vars()
    folder = str(cache.folder) if cache.folder is not None else None
    # Imported once here rather than once in each worker: where workers are forked they start
    # with sqlglot and Jinja loaded.
    import_parsers()
    try:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker)
    except Exception:  # noqa: BLE001 - no pool here (sandbox, no /dev/shm): done in-process
        return None
    try:
        results = pool.map(compute_and_store, texts, [m.name for m in todo],
                           [variables] * len(todo), [folder] * len(todo), keys,
                           chunksize=max(1, len(todo) // (workers * 8)))
    except Exception:  # noqa: BLE001 - the workers could not start: done in-process
        pool.shutdown(wait=True, cancel_futures=True)
        return None
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    facts_pool = FactsPool(repo, pool, zip(todo, keys, results), len(todo), progress)
    repo.expect_facts([model.path for model in todo], facts_pool.wait_for)
    return facts_pool


def _start_worker() -> None:
    """A worker's set-up: its memory cap, and Ctrl-C left to the main process, which cancels
    what has not started and waits for the rest (the families run while the workers idle, and a
    worker interrupted there would print a traceback)."""
    import signal

    from lotus_checks.sql._budget import cap_worker_memory

    cap_worker_memory()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
