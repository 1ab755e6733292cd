"""The reference tree built once per test session by real dbt-core + dbt-duckdb.

Once per session, not per pytest-xdist worker: the first worker that needs it builds it into
the session's shared temporary folder (tests/conftest.py, build_once), and every worker reads
it back from disk (dbt's manifest.json, the runs, the DuckDB file, opened read-only).

Everything happens on a copy in a temporary folder: the repo never gets a target/, logs/,
.user.yml or a database file. Test-side rewrites of the copy (see docs/ground-truth.md):
`s3://landing/raw` in hard-coded `read_parquet('...')` paths becomes the fixture root, and
`raw_root` (read by the sources' external_location) is passed as a var.
"""

from __future__ import annotations

import gc
import json
import pickle
import re
import shutil
import time
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lotus_checks.core.config import load_config
from tests.builders import REFERENCE_TREE
from tests.conftest import build_once
from tests.dbt.fixtures import StreamData
from tests.dbt.fixtures import write_fixture_data

LANDING_ROOT = "s3://landing/raw"
FILES_VAR_RE = re.compile(r"""var\(\s*["']files?["']""")
PROFILE = """\
lotus_lake:
  target: test
  outputs:
    test:
      type: duckdb
      path: "{{ env_var('LOTUS_DUCKDB_PATH') }}"
      threads: 1
"""


@dataclass
class DbtRun:
    args: list[str]
    seconds: float
    success: bool
    statuses: dict[str, str]  # unique_id -> status
    error: str


@dataclass(frozen=True)
class ModelNode:
    """A model of the project as dbt's manifest.json records it."""

    unique_id: str
    name: str
    original_file_path: str
    raw_code: str
    tags: tuple[str, ...]
    materialized: str
    refs: tuple[str, ...]  # names of the models it ref()s


def read_models(manifest_json: Path) -> dict[str, ModelNode]:
    """The project's own models (no package's) in a manifest.json dbt wrote."""
    nodes = json.loads(manifest_json.read_text(encoding="utf-8"))["nodes"].values()
    return {
        node["name"]: ModelNode(
            unique_id=node["unique_id"],
            name=node["name"],
            original_file_path=node["original_file_path"],
            raw_code=node["raw_code"],
            tags=tuple(node["tags"]),
            materialized=node["config"]["materialized"],
            refs=tuple(ref["name"] for ref in node["refs"]),
        )
        for node in nodes
        if node["resource_type"] == "model" and node["package_name"] == "lotus_lake"
    }


@dataclass
class BuiltTree:
    project: Path
    raw_root: Path
    database: Path  # shared by every worker: open it with read_only=True
    streams: dict[str, StreamData]
    models: dict[str, ModelNode]
    runs: list[DbtRun]

    def files_models(self) -> dict[str, Any]:
        """Models reading `var("files")` or `var("file")`, which Dagster runs one stream at a
        time."""
        return {name: n for name, n in self.models.items() if FILES_VAR_RE.search(n.raw_code)}


def copy_project(dest: Path, raw_root: Path, tree: Path = REFERENCE_TREE) -> Path:
    """The dbt project at `tree` (the reference tree's by default) copied to `dest`, landing
    paths pointed at the fixture data."""
    shutil.copytree(
        tree,
        dest,
        ignore=shutil.ignore_patterns(
            "target", "logs", "dbt_packages", "*.duckdb", "*.wal", ".user.yml", "__pycache__"
        ),
    )
    for model in dest.rglob("*.sql"):
        text = model.read_text(encoding="utf-8")
        if LANDING_ROOT in text:
            model.write_text(text.replace(LANDING_ROOT, raw_root.as_posix()), encoding="utf-8")
    (dest / "profiles.yml").write_text(PROFILE, encoding="utf-8")
    return dest


def invoke(project: Path, args: list[str], variables: dict[str, Any]) -> tuple[DbtRun, Any]:
    full = [
        *args,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--vars", json.dumps(variables),
        "--no-send-anonymous-usage-stats",
        "--quiet",
        # No dbt.log: dbt leaves its file handler open between in-process invocations.
        "--log-level-file", "none",
    ]
    # Imported here, not at collection (a second or two per pytest-xdist worker, most of which
    # never run dbt). The README's test command installs the dbt extra; without it these tests
    # fail with an ImportError rather than skip, so a missing install step cannot pass unnoticed.
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    result = dbtRunner().invoke(full)
    seconds = time.perf_counter() - started
    statuses: dict[str, str] = {}
    for item in getattr(result.result, "results", None) or []:
        statuses[item.node.unique_id] = str(item.status)
    error = repr(result.exception) if result.exception else ""
    if not error:
        error = "; ".join(
            f"{item.node.name}: {item.message}"
            for item in getattr(result.result, "results", None) or []
            if str(item.status) not in ("success", "pass")
        )
    return DbtRun(args, seconds, result.success, statuses, error), result.result


def stream_of(node: Any, streams: dict[str, StreamData]) -> StreamData | None:
    """The stream a `var("files")` model is run for: Dagster's tag `<source>__<stream>`."""
    return next((streams[tag] for tag in node.tags if tag in streams), None)


def build_plan(tree: BuiltTree) -> list[tuple[list[str], StreamData | None]]:
    """Selections that build every model with as few dbt invocations as dbt allows.

    `files` is one var per invocation, so each stream with a `var("files")` model needs its own
    run (selected by its tag, as Dagster does). Models that do not read `files` ride along with
    the last run; dbt orders them after the models they ref within that run."""
    files_streams: dict[str, StreamData] = {}
    for name, node in sorted(tree.files_models().items()):
        stream = stream_of(node, tree.streams)
        assert stream is not None, f"{name} reads var('files') but has no stream tag"
        files_streams.setdefault(stream.tag, stream)
    selected_by_tags = {
        name
        for name, node in tree.models.items()
        if any(tag in files_streams for tag in node.tags)
    }
    rest = sorted(set(tree.models) - selected_by_tags)
    plan: list[tuple[list[str], StreamData | None]] = [
        ([f"tag:{tag}"], stream) for tag, stream in sorted(files_streams.items())
    ]
    if plan:
        plan[-1][0].extend(rest)
    else:
        plan.append((rest, None))
    return plan


def run_build(tree: BuiltTree, selection: list[str], stream: StreamData | None) -> None:
    variables: dict[str, Any] = {"raw_root": tree.raw_root.as_posix()}
    if stream is not None:
        variables["files"] = [p.as_posix() for p in stream.files]
        variables["file"] = stream.files[0].as_posix()  # what Dagster passes: one file landed
    # No manifest or run results written (the tests read the results in process): with the
    # `files` var changing from run to run, dbt parses the project anew each time anyway.
    run, _ = invoke(tree.project, ["build", "--no-write-json", "--no-partial-parse",
                                   "--select", *selection], variables)
    tree.runs.append(run)


def _build(folder: Path) -> None:
    """The reference tree parsed and built twice (the second run takes the is_incremental()
    branches) over fixture data in `folder`; what the tests read is left on disk."""
    raw_root = folder / "raw"
    streams = write_fixture_data(load_config(REFERENCE_TREE.parent), raw_root)
    project = copy_project(folder / "orchestration", raw_root)
    database = folder / "lake.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOTUS_DUCKDB_PATH", str(database))
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        parse_run, _ = invoke(project, ["parse"], {"raw_root": raw_root.as_posix()})
        assert parse_run.success, f"dbt parse failed: {parse_run.error}"
        # What `dbt parse` wrote, before the builds write theirs over it.
        (project / "target/manifest.json").rename(folder / "manifest.json")
        tree = BuiltTree(project, raw_root, database, streams,
                         read_models(folder / "manifest.json"), [parse_run])
        plan = build_plan(tree)
        for selection, stream in plan:
            run_build(tree, selection, stream)
        # Second pass: incremental models now exist, so `is_incremental()` is true.
        incremental = {n for n, node in tree.models.items() if node.materialized == "incremental"}
        for selection, stream in plan:
            names = _selected_names(tree, selection) & incremental
            if names:
                run_build(tree, sorted(names), stream)
    # dbt-duckdb keeps its connection to the database open for the next invocation in this
    # process; closed, the database can be opened read-only by every worker (this one included).
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()
    gc.collect()
    duckdb.connect(str(database), read_only=True).close()
    (folder / "runs.json").write_text(json.dumps([asdict(r) for r in tree.runs]), encoding="utf-8")
    (folder / "streams.pickle").write_bytes(pickle.dumps(streams))


@pytest.fixture(scope="session")
def built_tree(tmp_path_factory: pytest.TempPathFactory) -> BuiltTree:
    """The built reference tree (read-only: a test that changes it copies it first)."""
    return read_built(build_once(tmp_path_factory, "dbt-built", _build))


def read_built(folder: Path) -> BuiltTree:
    """The tree `_build` left in `folder`."""
    return BuiltTree(
        project=folder / "orchestration",
        raw_root=folder / "raw",
        database=folder / "lake.duckdb",
        streams=pickle.loads((folder / "streams.pickle").read_bytes()),
        models=read_models(folder / "manifest.json"),
        runs=[DbtRun(**run) for run in json.loads((folder / "runs.json").read_text("utf-8"))],
    )


def _selected_names(tree: BuiltTree, selection: list[str]) -> set[str]:
    out = set()
    for item in selection:
        if item.startswith("tag:"):
            out |= {n for n, node in tree.models.items() if item[4:] in node.tags}
        else:
            out.add(item)
    return out


@pytest.fixture(scope="session")
def built_models(built_tree: BuiltTree) -> dict[str, int]:
    """model name -> row count in the built database."""
    with duckdb.connect(str(built_tree.database), read_only=True) as connection:
        return {
            name: connection.execute(f'select count(*) from "{name}"').fetchone()[0]
            for name in built_tree.models
        }
