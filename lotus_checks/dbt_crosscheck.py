"""`lotus-check --dbt`: hold lotus-check's static view of the dbt project against dbt's own parse.

The static checks predict what dbt will see: which model files it reads (the `models` folders
that `model-paths` covers), each model's tags (`config(tags=...)` plus `dbt_project.yml`), the
`ref()`s and `source()`s of each model, and the source tables the sources files declare. `dbt
parse` knows for certain. Any difference is a finding (LL308): either our view is wrong (and
other findings may be too) or dbt sees something the checks never look at.

dbt runs in a subprocess with its own profile (an in-memory DuckDB), its target and log folders
in a temporary folder, and anonymous usage stats off: nothing is written into the user's tree
and no warehouse is touched. The summary of its manifest is cached by the content of the project
files, and a `target/manifest.json` newer than every project file is used instead of parsing.
dbt is never imported into this process.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from lotus_checks.config import ConfigError
from lotus_checks.context import CheckContext
from lotus_checks.finding import Finding
from lotus_checks.dbt_project import SKIPPED_FOLDERS
from lotus_checks.rules import Rule

INSTALL_HINT = ("--dbt needs dbt-core and dbt-duckdb in lotus-check's environment: "
                "pip install 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0' (the dbt extra)")
PARSE_TIMEOUT = 300.0  # seconds; past it dbt's whole process group is killed
# A manifest.json is read whole; real ones are tens of MB for thousands of models.
MANIFEST_MAX_BYTES = 512 * 2**20
CACHE_NAMESPACE = "dbt-manifest"
SUMMARY_VERSION = "1"
# Files dbt reads when it parses a project (models, macros, properties, seeds, docs).
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".py")

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


@dataclass
class ModelView:
    path: str  # relative to the repo root
    tags: frozenset[str] = frozenset()
    refs: dict[str, tuple[int | None, int | None, bool]] = field(default_factory=dict)
    sources: dict[tuple[str, str], tuple[int | None, int | None, bool]] = field(default_factory=dict)
    tags_position: tuple[int | None, int | None] = (None, None)


@dataclass
class DbtView:
    """What dbt's manifest says, reduced to what we compare; `error` when dbt parse failed."""

    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> path/tags/refs/sources
    source_tables: dict[tuple[str, str], str] = field(default_factory=dict)  # -> yml path
    error: str | None = None
    refused: bool = False  # `error` says why dbt was not run at all


def dbt_available() -> bool:
    """Whether dbt-core and dbt-duckdb are installed (without importing either)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        version("dbt-core")
        version("dbt-duckdb")
    except PackageNotFoundError:
        return False
    return True


def require_dbt() -> None:
    if not dbt_available():
        raise ConfigError(INSTALL_HINT)


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.use_dbt or not ctx.enabled(LL308.code):
        return
    # dbt resolved env_var() with the real environment: no value of it is ever shown.
    secrets = secret_values(os.environ)
    for finding in _findings(ctx):
        yield replace(finding, message=redact(finding.message, secrets),
                      hint=redact(finding.hint, secrets))


def _findings(ctx: CheckContext) -> Iterator[Finding]:
    project_file = ctx.config.root / ctx.config.dbt_project
    if not project_file.is_file():
        return  # no dbt project: nothing to cross-check (coverage reports a missing project)
    project = ctx.repo.yaml(ctx.config.dbt_project)
    if project is None or not isinstance(project.data, dict):
        return  # unreadable dbt_project.yml is already an LL0xx finding
    dbt = dbt_view(ctx, project.data)
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


# ---- dbt's view --------------------------------------------------------------------------------


def dbt_view(ctx: CheckContext, project: dict[str, Any]) -> DbtView:
    project_dir = ctx.config.root / posixpath.dirname(ctx.config.dbt_project)
    inputs = _project_inputs(ctx, project_dir)
    from lotus_checks.store import content_key

    key = content_key(SUMMARY_VERSION, _dbt_versions(), ctx.config.dbt_project, *(
        f"{rel}\0{digest}" for rel, digest, _mtime in inputs
    ))
    store = ctx.repo.store
    cached = store.get(CACHE_NAMESPACE, key) if store is not None else None
    if isinstance(cached, dict) and "models" in cached:
        return _view_from_json(cached)
    blocker = _unsafe_for_dbt(ctx, project, project_dir)
    if blocker is not None:
        return DbtView(error=blocker, refused=True)
    own_manifest = _own_manifest(ctx, project_dir, project.get("target-path"))
    newest = max((mtime for _rel, _digest, mtime in inputs), default=0.0)
    view = None
    if own_manifest is not None and _is_fresh(own_manifest, newest):
        manifest = _read_manifest(own_manifest, MANIFEST_MAX_BYTES)
        view = _summary_of(manifest, project, _repo_rel(ctx, project_dir))
    if view is None:  # no usable manifest of the project's own
        view = _parse(ctx, project, project_dir)
    # Compared as dbt gave it (a redacted name would differ from ours), but never cached
    # holding a value of the environment: such a project is parsed again next run.
    if view.error is None and _redacted(view, secret_values(os.environ)) == view:
        if store is not None:
            store.put(CACHE_NAMESPACE, key, _view_to_json(view))
    return view


def _own_manifest(ctx: CheckContext, project_dir: Path, target_path: Any) -> Path | None:
    """The project's own `<target-path>/manifest.json`, when it lies inside the repository.

    A target-path outside it (absolute, `../`, or through a link) is valid for dbt, but
    lotus-check reads nothing outside the root: dbt then parses afresh instead."""
    if target_path is not None and not isinstance(target_path, str):
        return None
    path = project_dir / (target_path or "target") / "manifest.json"
    real = os.path.realpath(path)
    root = os.path.realpath(ctx.config.root)
    return path if real.startswith(root.rstrip(os.sep) + os.sep) else None


def summarise(manifest: dict[str, Any], project: dict[str, Any], project_rel: str) -> DbtView:
    """The parts of a manifest.json we compare, for the root project's own nodes only."""
    package = project.get("name")
    view = DbtView()
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "model" or node.get("package_name") != package:
            continue
        refs = []
        for ref in node.get("refs") or []:
            name = ref.get("name") if isinstance(ref, dict) else (ref[-1] if ref else None)
            if isinstance(name, str):
                refs.append(name)
        view.models[node["name"]] = {
            "path": _join(project_rel, node.get("original_file_path", "")),
            "tags": sorted(set(node.get("tags") or [])),
            "refs": sorted(set(refs)),
            "sources": sorted({tuple(s[:2]) for s in node.get("sources") or [] if len(s) >= 2}),
        }
    for source in (manifest.get("sources") or {}).values():
        if source.get("package_name") != package:
            continue
        key = (source.get("source_name"), source.get("name"))
        view.source_tables[key] = _join(project_rel, source.get("original_file_path", ""))
    return view


def _summary_of(manifest: dict[str, Any], project: dict[str, Any], project_rel: str) -> DbtView | None:
    """`summarise`, or None for a manifest of another shape (hand-edited, another dbt version)."""
    if not manifest:
        return None
    try:
        return summarise(manifest, project, project_rel)
    except (AttributeError, TypeError, KeyError, IndexError):
        return None


def _parse(ctx: CheckContext, project: dict[str, Any], project_dir: Path) -> DbtView:
    work = Path(tempfile.mkdtemp(prefix="lotus-check-dbt-"))
    try:
        profile = project.get("profile") or project.get("name") or "default"
        (work / "profiles.yml").write_text(
            json.dumps(
                {profile: {"target": "lotus_check",
                           "outputs": {"lotus_check": {"type": "duckdb", "path": ":memory:"}}}}
            ),
            encoding="utf-8",
        )
        args = [
            "parse",
            "--project-dir", str(project_dir),
            "--profiles-dir", str(work),
            "--profile", str(profile),
            "--target", "lotus_check",
            "--target-path", str(work / "target"),
            "--log-path", str(work / "logs"),
            "--log-level", "none",
            "--log-level-file", "none",
            "--no-partial-parse",
            "--no-send-anonymous-usage-stats",
        ]
        outcome = _run_dbt(args, work)
        if outcome.get("error"):
            return DbtView(error=outcome["error"])
        manifest_path = work / "target" / "manifest.json"
        if not manifest_path.is_file():
            return DbtView(error="dbt wrote no manifest.json")
        manifest = _read_manifest(manifest_path, MANIFEST_MAX_BYTES)
        view = _summary_of(manifest, project, _repo_rel(ctx, project_dir))
        return view if view is not None else DbtView(error="dbt wrote a manifest.json of an unknown shape")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# The child process: dbt's programmatic runner, error events collected, one JSON line out.
_RUNNER = """
import json, sys
from dbt.cli.main import dbtRunner
errors = []
def keep(event):
    if event.info.level == "error" and event.info.msg:
        errors.append(event.info.msg)
result = dbtRunner(callbacks=[keep]).invoke(json.loads(sys.argv[1]))
error = ""
if not result.success:
    error = str(result.exception) if result.exception else "; ".join(errors) or "dbt parse failed"
sys.stdout.write("\\n" + json.dumps({"error": error}) + "\\n")
"""


def _run_dbt(args: list[str], work: Path) -> dict[str, Any]:
    # The project's env_var() calls need the real environment; what dbt reports back is
    # redacted (see _redacted).
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    try:
        # A session of its own: at the time limit the whole group goes, including anything dbt
        # started that still holds our pipes (else reading them would wait for it).
        process = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, json.dumps(args)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return {"error": f"cannot run dbt: {exc}"}
    try:
        stdout, stderr = process.communicate(timeout=PARSE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"dbt parse did not finish within {PARSE_TIMEOUT:g} s"}
    finally:
        _kill_group(process)  # at the time limit, or whatever it left running
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return {"error": _one_line(json.loads(line).get("error") or "")}
            except ValueError:
                break
    tail = (stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": _one_line(f"dbt exited with {process.returncode}: {tail}")}


def _kill_group(process: subprocess.Popen[str]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (OSError, AttributeError):  # gone already; or no process groups (Windows)
        if process.poll() is None:
            process.kill()
    try:
        process.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _read_manifest(path: Path, max_size: int) -> dict[str, Any]:
    """The manifest, or {} when it cannot be read: through the loaders' reader, so a FIFO or a
    link to a device in its place neither blocks nor reads without end."""
    from lotus_checks.loaders import LoadError
    from lotus_checks.loaders import read_bytes

    try:
        data = json.loads(read_bytes(path, max_size))
    except (LoadError, OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_fresh(manifest: Path, newest_input: float) -> bool:
    try:
        return manifest.stat().st_mtime > newest_input
    except OSError:
        return False


def _project_inputs(ctx: CheckContext, project_dir: Path) -> list[tuple[str, str, float]]:
    """(path, content digest, mtime) of every file dbt may read when parsing the project.

    Read as the repo model reads: never past max-file-size, never a FIFO or a device, never
    through a link out of the root; such a file counts by what is wrong with it."""
    import hashlib

    from lotus_checks.loaders import LoadError
    from lotus_checks.loaders import read_bytes_and_stat

    out = []
    for path in _project_files(ctx, project_dir):
        try:
            if not _inside_root(ctx, path):
                raise LoadError("LL001", "outside the repository")
            data, info = read_bytes_and_stat(path, ctx.config.max_file_size)
        except LoadError as exc:
            digest, mtime = f"!{exc.code}", 0.0
        else:
            digest, mtime = hashlib.sha256(data).hexdigest(), info.st_mtime
        out.append((path.relative_to(project_dir).as_posix(), digest, mtime))
    return out


def _project_files(ctx: CheckContext, project_dir: Path) -> Iterator[Path]:
    """The files dbt reads when parsing (by suffix), in the folders it searches; links to
    folders are not entered (see _unsafe_for_dbt)."""
    cache_dir = os.path.realpath(ctx.config.root / ctx.config.cache_dir)
    for folder, dirs, names in os.walk(project_dir):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_FOLDERS
            and os.path.realpath(here / d) != cache_dir
        )
        for name in sorted(names):
            if name.endswith(PROJECT_SUFFIXES) or name == "dbt_project.yml":
                yield here / name


def _below(path: Path, folder: Path) -> bool:
    return str(path).startswith(str(folder).rstrip(os.sep) + os.sep)


def _inside_root(ctx: CheckContext, path: Path) -> bool:
    root = os.path.realpath(ctx.config.root)
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


# The folders dbt searches for files (dbt_project.yml keys, with dbt's defaults).
_SEARCH_PATH_KEYS = {
    "model-paths": ["models"], "seed-paths": ["seeds"], "test-paths": ["tests"],
    "analysis-paths": ["analyses"], "macro-paths": ["macros"], "snapshot-paths": ["snapshots"],
    "docs-paths": [],
}


def _search_folders(project: dict[str, Any], project_dir: Path) -> list[Path]:
    out = []
    for key, default in _SEARCH_PATH_KEYS.items():
        value = project.get(key, default)
        for folder in value if isinstance(value, list) else [value]:
            if isinstance(folder, str) and folder.strip():
                out.append(project_dir / folder)
    return out


def _unsafe_for_dbt(ctx: CheckContext, project: dict[str, Any], project_dir: Path) -> str | None:
    """Why dbt must not parse this project, if it must not: dbt opens every file it reads
    plainly (a named pipe blocks it until the time limit, a link to /dev/zero never ends) and
    follows links to folders in the folders it searches (one leading out of the repository, or
    to a folder above it, has it read outside or walk in circles)."""
    import stat

    searched = _search_folders(project, project_dir)
    for base in searched:
        if os.path.lexists(base) and not _inside_root(ctx, base):
            return (f"{ctx.config.rel(base)} (in dbt_project.yml) lies outside the repository, "
                    "and dbt would read it")
        for folder, dirs, _names in os.walk(base):
            for name in dirs:
                path = Path(folder) / name
                if not os.path.islink(path):
                    continue
                real = os.path.realpath(path)
                if not _inside_root(ctx, path) or str(path).startswith(real.rstrip(os.sep) + os.sep):
                    return (f"{ctx.config.rel(path)} links to a folder outside the repository "
                            "or above itself, and dbt follows such links")
    for path in _project_files(ctx, project_dir):
        top_level = path.parent == project_dir  # dbt_project.yml, packages.yml, selectors.yml
        if not top_level and not any(_below(path, base) for base in searched):
            continue  # dbt never reads it
        rel = ctx.config.rel(path)
        if not _inside_root(ctx, path):
            return f"{rel} links outside the repository, and dbt would read it"
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # a dangling link or an unreadable file: dbt reports it, or skips it
        if not stat.S_ISREG(mode):
            return (f"{rel} is not a regular file (a named pipe, socket or device), and dbt "
                    "would block on it or read it without end")
    return None


# Variables whose values are no secret and common in messages (paths, the user's name).
_PLAIN_VARIABLES = frozenset({
    "PATH", "HOME", "PWD", "OLDPWD", "SHELL", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM",
    "TMPDIR", "TZ", "VIRTUAL_ENV", "PYTHONPATH", "HOSTNAME", "SHLVL", "_", "DO_NOT_TRACK",
    "DBT_SEND_ANONYMOUS_USAGE_STATS", "COLORTERM", "EDITOR", "PAGER",
})
_SECRET_NAME_PARTS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")


def secret_values(environ: Any) -> list[tuple[str, str]]:
    """(value, variable name) of every environment value that could be a secret, longest first.

    Values of names that look secret (and dbt's DBT_ENV_SECRET_ ones) count from 4 characters,
    any other from 8 (shorter ones are words such as `true` or `prod`); the few variables that
    hold paths and locale names do not count."""
    out = []
    for name, value in environ.items():
        if name in _PLAIN_VARIABLES or name.startswith("LC_"):
            continue
        secret_name = name.startswith("DBT_ENV_SECRET") or any(
            part in name.upper() for part in _SECRET_NAME_PARTS
        )
        if len(value.strip()) >= (4 if secret_name else 8):
            out.append((value, name))
    return sorted(out, key=lambda pair: -len(pair[0]))


def redact(text: str, secrets: list[tuple[str, str]]) -> str:
    for value, name in secrets:
        if value in text:
            text = text.replace(value, f"${{{name}}}")
    return text


def _redacted(view: DbtView, secrets: list[tuple[str, str]]) -> DbtView:
    """`view` with every environment value in its names, paths, tags and error replaced by the
    variable's name (`${DB_TOKEN}`); equal to `view` when it holds none."""
    if not secrets:
        return view

    def r(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, (list, tuple)):
            return type(value)(r(v) for v in value)
        if isinstance(value, dict):
            return {r(k): r(v) for k, v in value.items()}
        return value

    return DbtView(
        models=r(view.models),
        source_tables={r(key): r(path) for key, path in view.source_tables.items()},
        error=r(view.error),
        refused=view.refused,
    )


def _dbt_versions() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return f"dbt-core {version('dbt-core')}/dbt-duckdb {version('dbt-duckdb')}"
    except PackageNotFoundError:
        return "?"


def _view_to_json(view: DbtView) -> dict[str, Any]:
    return {
        "models": view.models,
        "source_tables": [[list(key), path] for key, path in view.source_tables.items()],
    }


def _view_from_json(data: dict[str, Any]) -> DbtView:
    view = DbtView(models=data["models"])
    for key, path in data.get("source_tables") or []:
        view.source_tables[(key[0], key[1])] = path
    for model in view.models.values():
        model["sources"] = [tuple(s) for s in model["sources"]]
    return view


# ---- our static view ---------------------------------------------------------------------------


def static_models(ctx: CheckContext, project: dict[str, Any]) -> dict[str, ModelView]:
    """name -> what the static checks assume dbt makes of each model it will read."""
    from lotus_checks.dbt_project import model_paths
    from lotus_checks.dbt_project import project_tags

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
    from lotus_checks.dbt_project import property_tags

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
    from lotus_checks.dbt_project import model_paths

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


def compare_models(static: dict[str, ModelView], dbt: DbtView) -> Iterator[Finding]:
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


def compare_sources(static: dict[tuple[str, str], str], dbt: DbtView) -> Iterator[Finding]:
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


def _repo_rel(ctx: CheckContext, project_dir: Path) -> str:
    return ctx.config.rel(project_dir) if project_dir != ctx.config.root else ""


def _join(prefix: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(prefix, path)) if prefix else path


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
