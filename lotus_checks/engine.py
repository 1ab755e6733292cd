"""One run: build the repo model, run the selected families, filter, sort.

The CLI, the pre-commit hooks and the tests all go through `run()`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from types import ModuleType
from collections.abc import Callable

from lotus_checks.checks import family_modules
from lotus_checks.checks.hygiene import NoqaComments
from lotus_checks.checks.hygiene import noqa_comments
from lotus_checks.checks.hygiene import unused_noqa
from lotus_checks.checks.input import RULES_BY_CODE as LOAD_RULES
from lotus_checks.core.config import Config
from lotus_checks.core.config import ConfigError
from lotus_checks.core.config import require_configured_paths
from lotus_checks.core.context import CheckContext
from lotus_checks.core.context import no_progress
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import RunResult
from lotus_checks.core.loaders import UTF8_BOM
from lotus_checks.core.rules import Rule
from lotus_checks.core.selection import Selection
from lotus_checks.core.selection import suppressed_by_noqa
from lotus_checks.incremental.cache import Cache
from lotus_checks.incremental.replay import ResultStore
from lotus_checks.repo.model import Repo

if TYPE_CHECKING:
    from lotus_checks.incremental.model_facts import FactsPool


def require_layout(config: Config) -> None:
    """A folder with no Lotus Lake layout is a usage error, not a clean result."""
    require_configured_paths(config)
    streams = config.root / config.streams
    try:
        os.stat(streams)
    except PermissionError:
        raise ConfigError(f"cannot read the stream configs folder {config.streams!r}: "
                          "permission denied (on it or a folder above it)") from None
    except OSError:
        pass
    if not os.path.isdir(streams):
        raise ConfigError(
            f"no Lotus Lake layout in {config.root}: no folder of <source>/<stream>.json stream "
            f"configs found, and the default {config.streams!r} does not exist (set `streams` "
            "in lotus-check.toml or [tool.lotus-check])"
        )


def run(
    config: Config,
    targets: frozenset[str] | None = None,
    *,
    fix: bool = False,
    unsafe_fixes: bool = False,
    use_cache: bool = True,
    use_dbt: bool = False,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
) -> RunResult:
    """`progress(done, total)` is handed to the checks as `ctx.progress` (files parsed so far);
    `jobs` caps the worker processes of a cold run (None: one per CPU core)."""
    require_layout(config)
    selection = Selection(config)
    cache = Cache(config.root / config.cache_dir if use_cache else None)
    families = [m for m in family_modules() if any(selection.enabled(r.code) for r in _reported(m))]

    def check() -> RunResult:
        return _check(config, targets, cache, selection, families, use_dbt, progress, jobs,
                      replay=not fix)

    result = check()
    fixed: list[str] = []
    # One fix can make another possible (a new model in a folder model-paths lacks), so the
    # fixed tree is checked and fixed again, each file once.
    for _round in range(FIX_ROUNDS if fix else 0):
        planned = _plan_round(config, targets, cache, selection, families, result, unsafe_fixes,
                              use_dbt, jobs)
        written = apply_fixes(config, {p: d for p, d in planned.items() if p not in fixed})
        if not written:
            break
        fixed.extend(written)
        result = check()
    result.fixed = fixed
    return result


def planned_fixes(
    config: Config,
    targets: frozenset[str] | None = None,
    *,
    unsafe_fixes: bool = False,
    use_cache: bool = True,
    jobs: int | None = None,
) -> dict[str, bytes]:
    """What `run(config, targets, fix=True)` would write first (root-relative path -> new
    bytes); nothing is written but the cache (`--fix --dry-run`). A fix that only becomes
    possible once these are written (a new model's folder in model-paths) is not shown."""
    require_layout(config)
    selection = Selection(config)
    cache = Cache(config.root / config.cache_dir if use_cache else None)
    families = [m for m in family_modules() if any(selection.enabled(r.code) for r in m.RULES)]
    result = _check(config, targets, cache, selection, families, False, None, jobs, replay=False)
    planned = _plan_round(config, targets, cache, selection, families, result, unsafe_fixes,
                          False, jobs)
    return {path: data for path, data in planned.items() if _changes(config, path, data)}


def _plan_round(
    config: Config,
    targets: frozenset[str] | None,
    cache: Cache,
    selection: Selection,
    families: list[ModuleType],
    result: RunResult,
    unsafe_fixes: bool,
    use_dbt: bool,
    jobs: int | None,
) -> dict[str, bytes]:
    """The files the families would write to resolve the findings `result` reports: nothing
    ignored, suppressed or outside the files asked about is fixed (as ruff does)."""
    if not result.findings:
        return {}
    reported = frozenset((f.code, f.path) for f in result.findings)
    ctx = context_for(config, targets, cache=cache, selection=selection, use_dbt=use_dbt,
                      unsafe_fixes=unsafe_fixes, reported=reported)
    return plan_fixes(ctx, families)


def _check(
    config: Config,
    targets: frozenset[str] | None,
    cache: Cache,
    selection: Selection,
    families: list[ModuleType],
    use_dbt: bool,
    progress: Callable[[int, int], None] | None,
    jobs: int | None,
    replay: bool,
) -> RunResult:
    ctx = context_for(config, targets, cache=cache, selection=selection, use_dbt=use_dbt,
                      progress=progress)
    # --dbt findings come from dbt, which reads more than the tree; --fix rewrites files.
    store = ResultStore.open(cache, config, ctx.repo) if replay and not use_dbt else None
    stored = store.replay() if store is not None else None
    if stored is not None and (targets is None or _scopes_exactly(stored, targets)):
        return _replayed(ctx, [f for f in stored if ctx.in_scope(f.path)])
    workers = jobs if jobs is not None else os.cpu_count() or 1
    pool = _precompute_model_facts(ctx, cache, workers) if families else None
    raw: list[Finding] = []
    try:
        for module in families:
            raw.extend(_run_family(module, ctx))
        if pool is not None:
            pool.finish()
    finally:
        if pool is not None:
            pool.close()
    result = _result(ctx, raw, selection)
    if store is not None and targets is None and not ctx.repo.machine_dependent:
        store.save(result.findings)
    return result


def _result(ctx: CheckContext, raw: list[Finding], selection: Selection) -> RunResult:
    """The run's result: the families' findings (`raw`) and the load problems of the files
    they read, selected and suppressed by `_filter`."""
    # The inventory before the load problems: listing it reports folders that cannot be read.
    checked = _files_checked(ctx)
    raw.extend(_load_findings(ctx.repo))
    findings = _filter(raw, ctx, selection, noqa_comments(ctx))
    return RunResult(findings=findings, files_checked=checked)


def _replayed(ctx: CheckContext, findings: list[Finding]) -> RunResult:
    """A stored result (already selected, suppressed and scoped) as this run's."""
    return RunResult(findings=findings, files_checked=_files_checked(ctx))


def _files_checked(ctx: CheckContext) -> int:
    inventory = ctx.repo.inventory()
    return len(inventory) if ctx.targets is None else len(ctx.targets & set(inventory))


# Codes of the rules that place a finding on a file in the run's scope (see _scopes_exactly).
MOVABLE = ("LL2", "LL3")


def _scopes_exactly(stored: list[Finding], targets: frozenset[str]) -> bool:
    """Whether the whole-repo result restricted to `targets` is what a run on the targets would
    report. The catalog and coverage rules (and LL008 for a generated catalog) place a finding
    on a file in scope when its own file is not (a stream config committed without
    regenerating its catalog): a stored finding of theirs outside the targets could move."""
    return not any(f.path not in targets and (f.code.startswith(MOVABLE) or f.code == "LL008")
                   for f in stored)


def _precompute_model_facts(ctx: CheckContext, cache: Cache, jobs: int) -> FactsPool | None:
    """Start computing the facts of the models in scope that are neither memoised nor cached in
    one process pool when there are many (a cold run), while the families run: the pool, which
    the caller finishes after the families (see incremental/model_facts.py)."""
    from lotus_checks.incremental.model_facts import start

    models = [m for m in ctx.repo.models if ctx.in_scope(m.path)]
    return start(ctx.repo, models, cache, jobs, ctx.progress)


def _load_findings(repo: Repo) -> list[Finding]:
    """The load problems of the repo model as LL0xx findings."""
    return [LOAD_RULES[p.code].finding(p.path, p.line, p.column, p.message)
            for p in repo.load_problems()]


# Rounds of check-then-fix (see run()): enough for a fix that makes another possible.
FIX_ROUNDS = 3


def plan_fixes(ctx: CheckContext, families: list[ModuleType]) -> dict[str, bytes]:
    """What --fix would write: path -> new bytes, from every family that can fix something
    (each fixes only what `ctx.reported` holds)."""
    planned: dict[str, bytes] = {}
    for module in families:
        if hasattr(module, "fix"):
            planned.update(module.fix(ctx))
    return planned


def apply_fixes(config: Config, planned: dict[str, bytes]) -> list[str]:
    """Write each planned file that `_changes` allows atomically, keeping a UTF-8 byte-order
    mark the file starts with; the paths written."""
    from lotus_checks.core.fsutil import atomic_write

    written: list[str] = []
    for path, data in sorted(planned.items()):
        if not _changes(config, path, data):
            continue
        target = config.root / path
        if os.path.lexists(target) and target.read_bytes().startswith(UTF8_BOM):
            data = data if data.startswith(UTF8_BOM) else UTF8_BOM + data
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data)
        except OSError as exc:
            raise FixFailed(path, exc.strerror or str(exc), written) from exc
        written.append(path)
    return written


class FixFailed(Exception):
    """A file could not be written: which one, why, and what was already rewritten."""

    def __init__(self, path: str, reason: str, done: list[str]):
        already = ("already rewritten: " + ", ".join(done)) if done else "no file was rewritten"
        super().__init__(f"--fix could not write {path}: {reason}; {already} (each file is "
                         "either rewritten whole or left as it was)")
        self.path = path
        self.done = done


def _changes(config: Config, path: str, data: bytes) -> bool:
    """Whether writing `data` to `path` is a fix to make: it changes the file, a regular file
    (or none yet) inside the root. A link, folder or FIFO is reported, never replaced."""
    target = config.root / path
    if not os.path.realpath(target).startswith(os.path.realpath(config.root) + os.sep):
        return False
    if not os.path.lexists(target):
        return True
    if target.is_symlink() or not target.is_file():
        return False
    old = target.read_bytes()
    return old != data and old != UTF8_BOM + data


def context_for(
    config: Config,
    targets: frozenset[str] | None = None,
    *,
    cache: Cache | None = None,
    selection: Selection | None = None,
    use_dbt: bool = False,
    progress: Callable[[int, int], None] | None = None,
    unsafe_fixes: bool = False,
    reported: frozenset[tuple[str, str]] | None = None,
) -> CheckContext:
    """The context a run hands each family's `check` and `fix`: a fresh repo model of
    `config.root` (facts stored in `cache`; None or a cache without a folder: computed each
    time), the rules `selection` enables (default: the config's). A family's check can be
    called on it directly (the rule tests do): no load findings, noqa, scoping or sorting."""
    return CheckContext(
        config=config,
        repo=Repo(config, cache if cache is not None and cache.folder is not None else None),
        targets=targets,
        enabled=(selection or Selection(config)).enabled,
        use_dbt=use_dbt,
        progress=progress or no_progress,
        unsafe_fixes=unsafe_fixes,
        reported=reported,
    )


def _reported(module: ModuleType) -> tuple[Rule, ...]:
    """The rules a family can report: its own, and others' it finds on the way (`ALSO_REPORTS`:
    the columns family reports the template errors it meets rendering models)."""
    return (*module.RULES, *getattr(module, "ALSO_REPORTS", ()))


class CheckCrashed(Exception):
    """A check raised: a bug in lotus-check, reported as an internal error (exit 2)."""


def _run_family(module: ModuleType, ctx: CheckContext) -> list[Finding]:
    try:
        return list(module.check(ctx))
    except Exception as exc:
        name = module.__name__.rsplit(".", 1)[-1]
        raise CheckCrashed(f"internal error in the {name} checks: {exc!r}") from exc


def _filter(raw: list[Finding], ctx: CheckContext, selection: Selection,
            comments: NoqaComments) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    # (path, line) of each noqa comment that suppressed something -> the codes it suppressed;
    # the comments that suppressed nothing are LL602 findings.
    suppressed: dict[tuple[str, int], set[str]] = {}
    lines_by_path: dict[str, list[str]] = {}
    for finding in raw:
        if finding in seen or not ctx.in_scope(finding.path):
            continue
        seen.add(finding)
        if not selection.enabled(finding.code, finding.path):
            continue
        if finding.line is not None and _noqa(finding, ctx, lines_by_path):
            suppressed.setdefault((finding.path, finding.line), set()).add(finding.code)
            continue
        out.append(selection.apply_severity(finding))
    # A file that failed to load or parse had its other findings skipped: its comments are
    # not judged.
    unparsed = {f.path for f in raw if f.code.startswith("LL0")}
    unused = unused_noqa(ctx, selection.enabled, suppressed, unparsed, comments)
    out.extend(selection.apply_severity(f) for f in unused)
    return sorted(out, key=Finding.sort_key)


def _noqa(finding: Finding, ctx: CheckContext, lines_by_path: dict[str, list[str]]) -> bool:
    if finding.path not in lines_by_path:
        text = ctx.repo.text(finding.path) if ctx.repo.is_file(finding.path) else None
        lines_by_path[finding.path] = text.splitlines() if text is not None else []
    lines = lines_by_path[finding.path]
    if finding.line is None or not 1 <= finding.line <= len(lines):
        return False
    return suppressed_by_noqa(finding, lines[finding.line - 1])
