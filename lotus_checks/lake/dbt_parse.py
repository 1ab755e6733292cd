"""Running `dbt parse` for `lotus-check --dbt` and reading its manifest (the LL308 family,
checks/dbt_parse.py, compares it with the static view).

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
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from lotus_checks.core.config import ConfigError
from lotus_checks.core.context import CheckContext
from lotus_checks.core.dbt_project import SKIPPED_FOLDERS

INSTALL_HINT = ("--dbt needs dbt-core and dbt-duckdb in lotus-check's environment: "
                "pip install 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0' (the dbt extra)")
PARSE_TIMEOUT = 300.0  # seconds; past it dbt's whole process group is killed
# A manifest.json is read whole; real ones are tens of MB for thousands of models.
MANIFEST_MAX_BYTES = 512 * 2**20
CACHE_NAMESPACE = "dbt-manifest"
SUMMARY_VERSION = "1"
# Files dbt reads when it parses a project (models, macros, properties, seeds, docs).
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".py")


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


# ---- dbt's view --------------------------------------------------------------------------------


def dbt_view(ctx: CheckContext, project: dict[str, Any]) -> DbtView:
    project_dir = ctx.config.root / posixpath.dirname(ctx.config.dbt_project)
    inputs = _project_inputs(ctx, project_dir)
    from lotus_checks.core.store import content_key

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
    from lotus_checks.core.loaders import LoadError
    from lotus_checks.core.loaders import read_bytes

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

    from lotus_checks.core.loaders import LoadError
    from lotus_checks.core.loaders import read_bytes_and_stat

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


def environment_secrets() -> list[tuple[str, str]]:
    """`secret_values` of this process's environment: what dbt resolved `env_var()` with."""
    return secret_values(os.environ)


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


def _repo_rel(ctx: CheckContext, project_dir: Path) -> str:
    return ctx.config.rel(project_dir) if project_dir != ctx.config.root else ""


def _join(prefix: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(prefix, path)) if prefix else path
