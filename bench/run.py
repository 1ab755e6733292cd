#!/usr/bin/env python3
"""Benchmark lotus-check against the file-reading floor and `dbt parse`, in one run.

    python bench/run.py                     # S, M and L; dbt when installed
    python bench/run.py --sizes S --repeat 1 --no-dbt --out /tmp/bench --docs-dir /tmp/bench

For every size it generates a synthetic tree (bench/generate_tree.py), then times, each in a
fresh process, medians of `--repeat` runs:

- floor: read and parse every input file and nothing else (JSON, YAML, each model's Jinja
  template; Terraform and Python only read); also the read-only floor (models read, not parsed);
- lotus-check `--no-cache`; cold cache (cache folder deleted, then a run that fills it);
  warm (cache present, nothing changed); one-file (one model edited, its path passed, as
  pre-commit does);
- `dbt parse` cold (target/ deleted) and warm (partial parse), when dbt is installed;

plus `python -c pass`, `lotus-check --version` and `--help` once. Peak memory is each process's
ru_maxrss (os.wait4). Results go to `<out>/results-<date>.json` and `<out>/latest.json`;
`docs/performance.md` and `docs/performance.png` are regenerated from them (the hand-written
notes block of performance.md is kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

# The sibling script; importable once bench/ is on the path.
import generate_tree  # noqa: E402

SIZES: dict[str, tuple[int, int]] = {"S": (3, 5), "M": (20, 25), "L": (50, 40)}
DEFAULT_REPEAT = {"S": 5, "M": 5, "L": 3}
# Runs of the quick figures (floor, warm, one changed model) unless --repeat says otherwise.
QUICK_REPEAT = 11
CACHE_DIR = ".lotus_check_cache"
STARTUP_TARGET_S = 0.150
PEAK_MEMORY_TARGET_MB = 300
FIGURES = ("floor", "floor_read", "required", "cold_no_cache", "cold_cache", "warm", "one_file",
           "dbt_cold", "dbt_warm")
FIGURE_LABELS = {
    "floor": "file-reading floor",
    "floor_read": "read-only floor (models not parsed)",
    "required": "work a cold run cannot skip (one process)",
    "cold_no_cache": "lotus-check --no-cache",
    "cold_cache": "lotus-check, cold cache",
    "warm": "lotus-check, warm",
    "one_file": "lotus-check, one model changed",
    "dbt_cold": "dbt parse, cold",
    "dbt_warm": "dbt parse, warm (partial parse)",
}
NOTES_START = "<!-- notes:start (kept when bench/run.py regenerates this file) -->"
NOTES_END = "<!-- notes:end -->"

# Both scripts below walk the tree alike: every input file read, JSON and YAML parsed, a model
# handed to `on_sql(text, name)`, Terraform and Python only read; `count` is what they print.
_WALK = r"""
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
skip = {".git", "target", "dbt_packages", "logs", "node_modules", "__pycache__", ".lotus_check_cache"}
count = 0
for folder, dirs, names in os.walk(sys.argv[1]):
    dirs[:] = [d for d in dirs if d not in skip]
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                json.loads(f.read())
        elif name.endswith((".yml", ".yaml")):
            with open(path, encoding="utf-8") as f:
                yaml.load(f.read(), Loader=loader)
        elif name.endswith(".sql"):
            with open(path, encoding="utf-8") as f:
                count += on_sql(f.read(), name[:-4]) - 1
        elif name.endswith((".tf", ".py", ".toml")):
            with open(path, encoding="utf-8") as f:
                f.read()
        else:
            continue
        count += 1
"""

# Read and parse every input file below the root, nothing else. It runs as `python -c`, in a
# fresh process, so it pays the same interpreter start-up lotus-check pays. "Parse" is each
# file's own format with the parser lotus-check itself uses for it: JSON, YAML, and a dbt model
# as the Jinja template it is (its syntax tree, nothing rendered). Terraform and the catalog
# generator are only read (lotus-check parses HCL too, so the floor is, if anything, low).
# With `--read-only` models are read and not parsed: the stricter floor of earlier rounds,
# reported beside it. Prints the number of files.
FLOOR_SCRIPT = r"""
import json, os, sys
import yaml
read_only = "--read-only" in sys.argv
if not read_only:
    import jinja2
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
def on_sql(text, name):
    if not read_only:
        environment.parse(text)
    return 1
""" + _WALK + "print(count)\n"

# The part of a cold run that no implementation of the checks can skip, done once, in one process,
# by the same code lotus-check uses: start Python; read and parse every input file (as the
# floor); render each model (both ways when it names is_incremental(), as the column checks
# need both renderings); parse each rendering with sqlglot (the mission: "SQL parsed with
# sqlglot"); run the repo's catalog generator on a copy of its inputs (the mission: "`_catalog.json`
# against a fresh regeneration"). No resolution, no checks, no findings. Its CPU time over the
# core count is a lower bound on the wall time of any cold run that spreads this work perfectly.
# Prints the number of files other than models plus the number of renderings parsed.
REQUIRED_SCRIPT = r"""
import json, os, sys
from pathlib import Path
import yaml
from lotus_checks.generator import Layout, start_generator
from lotus_checks.sql.facts import calls_is_incremental, import_parsers, parse
from lotus_checks.sql.render import render_model
import_parsers()
# Started first and waited for last, as lotus-check does: its CPU counts all the same.
generator = start_generator(Layout(Path(sys.argv[1]), "orchestration/airbyte/generate-catalog.py",
                                   "orchestration/assets/streams", "orchestration/assets/sources"),
                            timeout=120)
def on_sql(text, name):
    renderings = 0
    for incremental in (False, True) if calls_is_incremental(text) else (False,):
        rendered = render_model(text, model_name=name, incremental=incremental, project_vars={})
        if rendered.sql is not None:
            parse(rendered.sql, rendered.original_position)
            renderings += 1
    return renderings
""" + _WALK + r"""
run = generator.result()
if not run.ok:
    sys.exit(f"generator failed: {run.error}")
print(count)
"""


@dataclass
class Sample:
    wall_s: float
    # user + system CPU of the process and the children it waited for: far less sensitive than
    # wall time to other work on a shared machine.
    cpu_s: float
    peak_rss_mb: float
    exit_code: int


# Runs each measured command and reports its wall time, CPU time and peak RSS (wait4). A
# separate small process, started before any tree is generated: on Linux a child's ru_maxrss
# starts from its parent's size at fork (it survives exec), so children of this script, which
# grows with the trees it generates, would report the script's size as their floor.
LAUNCHER_SCRIPT = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["stderr"], "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(job["cmd"], cwd=job["cwd"], env=job["env"],
                                stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                      "rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}),
          flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER_SCRIPT],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], cwd: Path, env: dict[str, str], stderr_path: Path) -> Sample:
        """Wall time, CPU time and peak RSS of one process (ru_maxrss: this process only)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        job = {"cmd": cmd, "cwd": str(cwd), "env": env, "stderr": str(stderr_path)}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        out = json.loads(self.process.stdout.readline())
        return Sample(out["wall"], out["cpu"], out["rss_kb"] / 1024, out["code"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def measure(
    launcher: Launcher,
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    repeat: int,
    scratch: Path,
    before: Callable[[int], None] | None = None,
    ok_codes: tuple[int, ...] = (0, 1),
) -> dict[str, Any]:
    samples = []
    for i in range(repeat):
        if before is not None:
            before(i)
        sample = launcher.run(cmd, cwd, env, scratch / "stderr.txt")
        if sample.exit_code not in ok_codes:
            tail = (scratch / "stderr.txt").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} exited {sample.exit_code}:\n{tail}")
        samples.append(sample)
    walls = [s.wall_s for s in samples]
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "runs_s": walls,
        "cpu_median_s": statistics.median(s.cpu_s for s in samples),
        "peak_rss_mb": max(s.peak_rss_mb for s in samples),
        "exit_codes": sorted({s.exit_code for s in samples}),
    }


def console_script(name: str) -> str | None:
    """The entry point next to this interpreter, else on PATH.

    Next to the interpreter first: a pyenv shim on PATH is a bash script that adds tens of
    milliseconds to every run, which is not lotus-check's (or dbt's) time."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def lotus_command() -> list[str]:
    script = console_script("lotus-check")
    return [script] if script else [sys.executable, "-m", "lotus_checks"]


def dbt_command() -> list[str] | None:
    script = console_script("dbt")
    if script is None:
        return None
    try:
        import dbt.adapters.duckdb  # noqa: F401
    except ImportError:
        return None
    return [script]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    # No network from dbt (no internet here: tracking would time out), no colour codes.
    env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", "NO_COLOR": "1"})
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def count_files(folder: Path) -> int:
    return sum(len(names) for _dirs, _sub, names in os.walk(folder)) if folder.is_dir() else 0


def tree_stats(root: Path) -> tuple[int, int]:
    files = size = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "target", "logs", CACHE_DIR)]
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(folder, name))
    return files, size


def findings_of(root: Path, env: dict[str, str]) -> dict[str, int]:
    """Codes lotus-check reports on the tree (a clean tree reports none)."""
    out = subprocess.run([*lotus_command(), "--root", str(root), "--no-cache",
                          "--output-format", "json"], cwd=root, env=env,
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        return {"error": out.stderr.strip()[-500:] or f"exit {out.returncode}"}  # type: ignore[dict-item]
    counts: dict[str, int] = {}
    for finding in json.loads(out.stdout)["findings"]:
        counts[finding["code"]] = counts.get(finding["code"], 0) + 1
    return dict(sorted(counts.items()))


def pick_model(root: Path) -> Path:
    models = sorted((root / "orchestration" / "assets" / "core").glob("*/int_*.sql"))
    return models[len(models) // 2]


@dataclass
class LotusFigure:
    """How one of lotus-check's figures is run on a tree: the command, what to do before the
    i-th run, and how to put the tree back afterwards."""

    cmd: list[str]
    before: Callable[[int], None]
    restore: Callable[[], None]


def lotus_figure(figure: str, root: Path, env: dict[str, str], edit_tag: str) -> LotusFigure:
    """cold_no_cache: `--no-cache`. cold_cache: the cache folder deleted before each run. warm:
    the cache filled before the first run. one_file: a model edited as no earlier run saw it
    (`-- <edit_tag> <i>` appended) and its path passed, as pre-commit does."""
    lotus = [*lotus_command(), "--root", str(root)]

    def nothing(*_args: Any) -> None:
        return None

    if figure == "cold_no_cache":
        return LotusFigure([*lotus, "--no-cache"], nothing, nothing)
    if figure == "cold_cache":
        return LotusFigure(lotus, lambda _i: shutil.rmtree(root / CACHE_DIR, ignore_errors=True),
                           nothing)
    if figure == "warm":
        def fill(i: int) -> None:
            if i == 0:
                subprocess.run(lotus, cwd=root, env=env, stdout=subprocess.DEVNULL, check=False)

        return LotusFigure(lotus, fill, nothing)
    model = pick_model(root)
    original = model.read_text(encoding="utf-8")
    return LotusFigure(
        [*lotus, model.relative_to(root).as_posix()],
        lambda i: model.write_text(original + f"-- {edit_tag} {i}\n", encoding="utf-8"),
        lambda: model.write_text(original, encoding="utf-8"))


def bench_size(launcher: Launcher, name: str, root: Path, repeat: int, quick_repeat: int,
               use_dbt: bool, seed: int,
               scratch: Path, log: Callable[[str], None]) -> dict[str, Any]:
    n_sources, n_streams = SIZES[name]
    env = bench_env()
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    counts = generate_tree.generate(root, n_sources, n_streams, seed)
    generate_tree.git_commit(root)
    files, size = tree_stats(root)
    result: dict[str, Any] = {
        **counts, "files": files, "bytes": size,
        "generate_s": time.perf_counter() - start, "repeat": repeat,
        "quick_repeat": quick_repeat, "figures": {},
    }
    log(f"[{name}] {counts['models']} models, {files} files, {size / 1e6:.1f} MB")
    figures = result["figures"]
    cache = root / CACHE_DIR

    subprocess.run([sys.executable, "-c", FLOOR_SCRIPT, str(root)], check=True,
                   stdout=subprocess.DEVNULL)  # warm the OS page cache for every figure alike
    for figure, label in (("cold_no_cache", "--no-cache"), ("cold_cache", "cold cache")):
        run = lotus_figure(figure, root, env, "bench edit")
        figures[figure] = measure(launcher, run.cmd, root, env, repeat, scratch,
                                  before=run.before)
        log(f"[{name}] {label} {figures[figure]['median_s']:.3f}s")
    # The figures the targets compare with the floor take a fraction of a second and vary with
    # the machine's state by tens of percent: more runs each, the floor measured right before.
    figures["floor"] = measure(launcher, [sys.executable, "-c", FLOOR_SCRIPT, str(root)], root,
                               env, quick_repeat, scratch, ok_codes=(0,))
    log(f"[{name}] floor {figures['floor']['median_s']:.3f}s")
    figures["floor_read"] = measure(
        launcher, [sys.executable, "-c", FLOOR_SCRIPT, str(root), "--read-only"], root, env,
        quick_repeat, scratch, ok_codes=(0,))
    log(f"[{name}] read-only floor {figures['floor_read']['median_s']:.3f}s")
    figures["required"] = measure(launcher, [sys.executable, "-c", REQUIRED_SCRIPT, str(root)],
                                  root, env, repeat, scratch, ok_codes=(0,))
    log(f"[{name}] required work {figures['required']['median_s']:.3f}s, "
        f"{figures['required']['cpu_median_s']:.3f}s CPU")
    warm = lotus_figure("warm", root, env, "bench edit")
    figures["warm"] = measure(launcher, warm.cmd, root, env, quick_repeat, scratch,
                              before=warm.before)
    log(f"[{name}] warm {figures['warm']['median_s']:.3f}s")

    one = lotus_figure("one_file", root, env, "bench edit")
    added: list[int] = []
    entries_before = [count_files(cache)]

    def edit(i: int) -> None:
        if i > 0:
            added.append(count_files(cache) - entries_before[0])
        one.before(i)
        entries_before[0] = count_files(cache)

    try:
        figures["one_file"] = measure(launcher, one.cmd, root, env, quick_repeat, scratch,
                                      before=edit)
        added.append(count_files(cache) - entries_before[0])
    finally:
        one.restore()
    result["one_file_model"] = one.cmd[-1]
    result["one_file_cache_entries_added"] = added
    log(f"[{name}] one file {figures['one_file']['median_s']:.3f}s")

    dbt = dbt_command() if use_dbt else None
    if dbt is not None:
        project = root / "orchestration"
        parse = [*dbt, "parse", "--project-dir", str(project), "--profiles-dir", str(project)]
        figures["dbt_cold"] = measure(
            launcher, parse, project, env, repeat, scratch, ok_codes=(0,),
            before=lambda _i: shutil.rmtree(project / "target", ignore_errors=True))
        log(f"[{name}] dbt parse cold {figures['dbt_cold']['median_s']:.3f}s")
        figures["dbt_warm"] = measure(launcher, parse, project, env, repeat, scratch,
                                      ok_codes=(0,))
        log(f"[{name}] dbt parse warm {figures['dbt_warm']['median_s']:.3f}s")
    result["findings"] = findings_of(root, env)
    return result


# ---- growth from M to L, measured in alternation ---------------------------------------------

# The lotus-check figures whose L / M growth is a target, measured again in M, L pairs.
GROWTH_FIGURES = ("cold_no_cache", "cold_cache", "warm", "one_file")
GROWTH_PAIRS = 5


def bench_growth(launcher: Launcher, roots: dict[str, Path], pairs: int, scratch: Path,
                 log: Callable[[str], None]) -> dict[str, Any]:
    """L / M of each lotus-check figure from runs taken in alternation (M, then L, `pairs`
    times), the median of the pairs' ratios. The sizes' own figures are measured minutes apart,
    and this machine's speed drifts by tens of percent in minutes: a ratio of two such medians
    measures the drift as much as the growth."""
    env = bench_env()
    growth: dict[str, Any] = {}
    for figure in GROWTH_FIGURES:
        ratios = []
        for i in range(pairs):
            times = {size: _one_run(launcher, figure, roots[size], env, scratch, i)
                     for size in ("M", "L")}
            ratios.append(times["L"] / times["M"])
        growth[figure] = {"ratios": ratios, "median": statistics.median(ratios)}
        log(f"[L/M] {figure} {growth[figure]['median']:.2f}x "
            f"({', '.join(f'{r:.2f}' for r in ratios)})")
    return growth


def _one_run(launcher: Launcher, figure: str, root: Path, env: dict[str, str], scratch: Path,
             i: int) -> float:
    """The wall time of the i-th run of `figure` on `root`, set up as bench_size sets it up."""
    run = lotus_figure(figure, root, env, "growth edit")  # edits no earlier run saw
    run.before(i)
    try:
        return launcher.run(run.cmd, root, env, scratch / "stderr.txt").wall_s
    finally:
        run.restore()


# ---- start-up, import time, profile --------------------------------------------------------


def bench_startup(launcher: Launcher, repeat: int, scratch: Path) -> dict[str, Any]:
    env = bench_env()
    cwd = scratch
    return {
        "python_pass": measure(launcher, [sys.executable, "-c", "pass"], cwd, env, repeat, scratch,
                               ok_codes=(0,)),
        "version": measure(launcher, [*lotus_command(), "--version"], cwd, env, repeat, scratch,
                           ok_codes=(0,)),
        "help": measure(launcher, [*lotus_command(), "--help"], cwd, env, repeat, scratch,
                        ok_codes=(0,)),
    }


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_times(args: list[str]) -> dict[str, Any]:
    """`python -X importtime` of lotus-check ARGS: top-level imports by cumulative time."""
    script = console_script("lotus-check")
    cmd = [sys.executable, "-X", "importtime", *([script] if script else ["-m", "lotus_checks"]),
           *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=bench_env())
    rows = []
    modules = set()
    for line in out.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, module = match.groups()
        modules.add(module)
        if len(indent) == 1:  # imported directly, not by another module
            rows.append({"module": module, "cumulative_ms": int(cumulative_us) / 1000,
                         "self_ms": int(self_us) / 1000})
    rows.sort(key=lambda r: -r["cumulative_ms"])
    heavy = sorted(m for m in modules if m.split(".")[0] in (
        "sqlglot", "jsonschema", "jinja2", "hcl2", "dbt", "duckdb", "yaml", "lark"))
    return {"args": args, "total_ms": sum(r["cumulative_ms"] for r in rows),
            "top": rows[:12], "heavy_modules": heavy[:20], "modules": len(modules)}


def package_of(filename: str) -> str:
    """Group profile rows: lotus_checks.<module>, a third-party package, or the stdlib."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    parts = Path(filename).parts
    if "lotus_checks" in parts:
        i = parts.index("lotus_checks")
        return "lotus_checks." + Path(*parts[i + 1:]).with_suffix("").as_posix().replace("/", ".")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    return "stdlib"


def profile_run(root: Path, scratch: Path, args: list[str], top: int = 25) -> dict[str, Any]:
    """cProfile of one lotus-check run in a fresh process: time per package, top functions."""
    stats_file = scratch / "profile.pstats"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "lotus_checks",
           "--root", str(root), *args]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=bench_env(), stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    stats = pstats.Stats(str(stats_file))
    raw = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    by_family: dict[str, float] = {}
    rows = []
    sql_parses = models_parsed = 0
    for (filename, line, func), (cc, nc, tt, ct, _callers) in raw.items():
        package = package_of(filename)
        if func == "check" and package.startswith("lotus_checks.checks."):
            by_family[package.rsplit(".", 1)[1]] = ct
        by_package[package] = by_package.get(package, 0.0) + tt
        rows.append({"function": f"{_short(filename)}:{line}({func})", "ncalls": nc,
                     "tottime_s": tt, "cumtime_s": ct})
        # Our one entry to the SQL parser (sqlglot's own may be compiled, invisible to cProfile).
        if filename.replace(os.sep, "/").endswith("lotus_checks/sql/facts.py"):
            if func == "parse":
                sql_parses += nc
            elif func == "model_facts":  # one call per model rendered, parsed and resolved
                models_parsed += nc
    total = sum(by_package.values())
    return {
        "args": args,
        "wall_s": wall,
        "profiled_s": total,
        "sql_parse_calls": sql_parses,
        "models_parsed": models_parsed,
        # Cumulative time of each family's check(ctx); shared lazy loads land in the first.
        "by_family": dict(sorted(by_family.items(), key=lambda kv: -kv[1])),
        "by_package": sorted(
            ({"package": k, "tottime_s": v, "share": v / total if total else 0.0}
             for k, v in by_package.items()), key=lambda r: -r["tottime_s"])[:15],
        "top_tottime": sorted(rows, key=lambda r: -r["tottime_s"])[:top],
        "top_cumtime": sorted(rows, key=lambda r: -r["cumtime_s"])[:top],
    }


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("lotus_checks", "site-packages"):
        if anchor in parts:
            i = parts.index(anchor)
            return Path(*parts[i + (anchor == "site-packages"):]).as_posix()
    if "lib" in parts:
        return Path(*parts[parts.index("lib") + 2:]).as_posix() if len(parts) > 2 else filename
    return filename


def profile_one_file(root: Path, scratch: Path) -> dict[str, Any]:
    """Profile the pre-commit-style run: how many models does it send through the SQL parser?"""
    subprocess.run([*lotus_command(), "--root", str(root)], cwd=root, env=bench_env(),
                   stdout=subprocess.DEVNULL, check=False)  # a full cache first
    model = pick_model(root)
    original = model.read_text(encoding="utf-8")
    model.write_text(original + "-- bench edit for the profile\n", encoding="utf-8")
    try:
        return profile_run(root, scratch, [model.relative_to(root).as_posix()], top=15)
    finally:
        model.write_text(original, encoding="utf-8")


# ---- targets -------------------------------------------------------------------------------


def median(results: dict[str, Any], size: str, figure: str) -> float | None:
    fig = results["sizes"].get(size, {}).get("figures", {}).get(figure)
    return fig["median_s"] if fig else None


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float | None, unit: str,
            note: str = "") -> None:
        ok = None if value is None or limit is None else value <= limit
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "pass": ok, "note": note})

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    m_cold = median(results, "M", "cold_no_cache")
    m_floor = median(results, "M", "floor")
    if "M" in results["sizes"]:
        add("M cold (--no-cache) / dbt parse cold", ratio(m_cold, median(results, "M", "dbt_cold")),
            1 / 8, "x", "" if median(results, "M", "dbt_cold") else "dbt not measured")
        add("M cold (cold cache) / dbt parse cold",
            ratio(median(results, "M", "cold_cache"), median(results, "M", "dbt_cold")), 1 / 8, "x")
        add("M cold (--no-cache) / floor", ratio(m_cold, m_floor), 3.0, "x")
        add("M cold (cold cache) / floor", ratio(median(results, "M", "cold_cache"), m_floor),
            3.0, "x")
        add("M warm / floor", ratio(median(results, "M", "warm"), m_floor), 1.2, "x")
        add("M one changed model / floor", ratio(median(results, "M", "one_file"), m_floor), 1.2,
            "x")
    one = results.get("profile_one_file", {})
    cold = results.get("profile", {})
    if cold.get("models_parsed"):
        # "The one-changed-file run re-parses one model" (each of its renderings once).
        models = results["sizes"][results["profile_size"]]["models"]
        add(f"{results['profile_size']} one changed model: models parsed",
            one.get("models_parsed"), 1, "models",
            f"cold run: {cold['models_parsed']} of {models} models, "
            f"{cold.get('sql_parse_calls')} SQL parses (a model whose is_incremental() "
            f"rendering differs is parsed twice); one-file run: "
            f"{one.get('sql_parse_calls')} SQL parses")
    elif cold:
        add(f"{results['profile_size']} one changed model: models parsed", None, 1, "models",
            "the cold profile parsed no model")
    if "M" in results["sizes"] and "L" in results["sizes"]:
        growth = results["sizes"]["L"]["models"] / results["sizes"]["M"]["models"]
        paired = results.get("growth", {})
        for figure in FIGURES:
            if figure == "required":
                continue  # a yardstick, not a figure of lotus-check's
            m, l_ = median(results, "M", figure), median(results, "L", figure)
            if figure in paired:
                pairs = paired[figure]["ratios"]
                add(f"L / M, {FIGURE_LABELS[figure]}", paired[figure]["median"], growth, "x",
                    f"models grow {growth:.2f}x; median of {len(pairs)} M, L pairs run in "
                    f"alternation ({', '.join(f'{r:.2f}x' for r in pairs)}); the sizes' "
                    f"medians, minutes apart: {l_ / m:.2f}x" if m and l_ else "")
            elif m is not None and l_ is not None:
                add(f"L / M, {FIGURE_LABELS[figure]}", l_ / m, growth, "x",
                    f"models grow {growth:.2f}x")
    if "L" in results["sizes"]:
        peak = max(f["peak_rss_mb"] for k, f in results["sizes"]["L"]["figures"].items()
                   if k in ("cold_no_cache", "cold_cache", "warm", "one_file"))
        add("L peak memory of lotus-check", peak, PEAK_MEMORY_TARGET_MB, "MB")
    startup = results.get("startup", {})
    for key, label in (("version", "lotus-check --version"), ("help", "lotus-check --help")):
        if key in startup:
            add(label, startup[key]["median_s"] * 1000, STARTUP_TARGET_S * 1000, "ms")
    return targets


# ---- report --------------------------------------------------------------------------------


def fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.0f} {unit}"


def render_markdown(results: dict[str, Any], notes: str, chart: str | None) -> str:
    m = results["machine"]
    out = [
        "# Performance",
        "",
        "<!-- Generated by `python bench/run.py`; edit only the notes block below. -->",
        "",
        f"Measured {results['date']} on {m['cpu_count']} cores ({m['platform']}), Python "
        f"{m['python']}, lotus-checks {m['lotus_checks']} ({m['code']}; repo at "
        f"{m['commit']}), sqlglot "
        f"{m['sqlglot']}{' (compiled, sqlglotc)' if m['sqlglot_compiled'] else ''}, "
        f"dbt-core {m['dbt'] or 'not installed'}. Medians of {results['repeat_note']}; every "
        "figure is the wall time of a fresh process, start-up included. Trees come from "
        "`bench/generate_tree.py` (seed "
        f"{results['seed']}); the OS file cache is warm for every figure alike. Load average "
        f"(1/5/15 min) at the start {_load(results['load_average_start'])}, at the end "
        f"{_load(results['load_average_end'])}.",
        "",
        "## Targets (issue 8)",
        "",
        "| target | measured | limit | status |",
        "|---|---|---|---|",
    ]
    for t in results["targets"]:
        status = {True: "met", False: "**not met**", None: "not measured"}[t["pass"]]
        note = f" ({t['note']})" if t["note"] else ""
        out.append(f"| {t['target']} | {fmt_value(t['value'], t['unit'])} | "
                   f"{fmt_value(t['limit'], t['unit'])} | {status}{note} |")
    out += ["", "## Figures", ""]
    sizes = list(results["sizes"])
    header = "| figure | " + " | ".join(
        f"{s} ({results['sizes'][s]['models']} models, {results['sizes'][s]['files']} files)"
        for s in sizes) + " |"
    out += [header, "|---|" + "---|" * len(sizes)]
    for figure in FIGURES:
        cells = []
        for s in sizes:
            fig = results["sizes"][s]["figures"].get(figure)
            cpu = f" ({fmt_s(fig['cpu_median_s'])} CPU)" if fig and "cpu_median_s" in fig else ""
            cells.append("–" if fig is None else
                         f"{fmt_s(fig['median_s'])}{cpu} · {fig['peak_rss_mb']:.0f} MB")
        if any(c != "–" for c in cells):
            out.append(f"| {FIGURE_LABELS[figure]} | " + " | ".join(cells) + " |")
    out += ["", "Cells: median wall time (median CPU time, user + system) · peak RSS of the "
            "process.", "",
            "| ratio | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    comparisons = [(f, "floor") for f in ("cold_no_cache", "cold_cache", "warm", "one_file")]
    comparisons += [(f, "floor_read") for f in ("cold_no_cache", "warm", "one_file")]
    comparisons += [("cold_no_cache", "dbt_cold"), ("cold_cache", "dbt_cold"),
                    ("warm", "dbt_warm"), ("one_file", "dbt_warm")]
    for figure, base in comparisons:
        label = {"floor": "floor", "floor_read": "read-only floor"}.get(base, FIGURE_LABELS[base])
        cells = []
        for s in sizes:
            a, b = median(results, s, figure), median(results, s, base)
            cells.append(f"{a / b:.2f}x" if a is not None and b else "–")
        if any(c != "–" for c in cells):
            out.append(f"| {FIGURE_LABELS[figure]} / {label} | " + " | ".join(cells) + " |")
    out += required_work_section(results)
    findings = {s: results["sizes"][s].get("findings", {}) for s in sizes}
    out += ["", "Findings lotus-check reports on the generated trees (they are meant to be "
            "clean): " + "; ".join(
                f"{s}: " + (", ".join(f"{c} x{n}" for c, n in f.items()) if f else "none")
                for s, f in findings.items()) + ".", ""]
    if chart:
        out += [f"![wall time against model count]({chart})", ""]
    st = results.get("startup")
    if st:
        out += ["## Start-up", "",
                f"`python -c pass` {fmt_s(st['python_pass']['median_s'])}, "
                f"`lotus-check --version` {fmt_s(st['version']['median_s'])}, "
                f"`lotus-check --help` {fmt_s(st['help']['median_s'])}.", ""]
        imp = results.get("importtime")
        if imp:
            out += [f"`python -X importtime lotus-check --version`: {imp['modules']} modules; "
                    "top-level imports by cumulative time:", "",
                    "| module | cumulative | self |", "|---|---|---|"]
            out += [f"| `{r['module']}` | {r['cumulative_ms']:.1f} ms | {r['self_ms']:.1f} ms |"
                    for r in imp["top"]]
            heavy = ", ".join(f"`{h}`" for h in imp["heavy_modules"]) or "none"
            out += ["", f"Heavy packages imported by `--version`: {heavy}.", ""]
    for key, title in (("profile", "Profile: cold run (`--no-cache`)"),
                       ("profile_one_file", "Profile: one changed model")):
        prof = results.get(key)
        if not prof:
            continue
        out += [f"## {title}, size {results['profile_size']}", "",
                f"`python -m cProfile -m lotus_checks --root TREE {' '.join(prof['args'])}`: "
                f"{prof['wall_s']:.2f} s under the profiler, {prof['profiled_s']:.2f} s of "
                f"function time; {prof.get('models_parsed', '?')} models were rendered, parsed "
                f"and resolved, with {prof['sql_parse_calls']} SQL parses "
                "(`lotus_checks/sql/facts.py:parse`).", "",
                ]
        if prof.get("by_family"):
            out += ["Time per family (cumulative time of its `check()`; a file loaded first by "
                    "one family is charged to it):", "", "| family | time | share |",
                    "|---|---|---|"]
            out += [f"| {name} | {t:.2f} s | {t / prof['profiled_s'] * 100:.0f}% |"
                    for name, t in prof["by_family"].items()]
            out.append("")
        out += ["Own time by package:", "", "| package | own time | share |", "|---|---|---|"]
        out += [f"| {r['package']} | {r['tottime_s']:.3f} s | {r['share'] * 100:.0f}% |"
                for r in prof["by_package"]]
        out += ["", "Top functions by own time:", "",
                "| function | calls | own | cumulative |", "|---|---|---|---|"]
        out += [f"| `{r['function']}` | {r['ncalls']} | {r['tottime_s']:.3f} s | "
                f"{r['cumtime_s']:.3f} s |" for r in prof["top_tottime"]]
        out += ["", "Top functions by cumulative time:", "",
                "| function | calls | cumulative |", "|---|---|---|"]
        out += [f"| `{r['function']}` | {r['ncalls']} | {r['cumtime_s']:.3f} s |"
                for r in prof["top_cumtime"]]
        out.append("")
    out += ["## Notes", "", NOTES_START, notes.strip("\n"), NOTES_END, ""]
    return "\n".join(out)


def required_work_section(results: dict[str, Any]) -> list[str]:
    """How the M cold limits compare with the CPU time of the work no cold run can skip, spread
    perfectly over the cores: a limit below that bound cannot be met on this machine by any
    implementation built on these parsers."""
    m = results["sizes"].get("M", {}).get("figures", {})
    required = m.get("required")
    if required is None:
        return []
    cores = results["machine"]["cpu_count"] or 1
    bound = required["cpu_median_s"] / cores
    lines = ["", "### The work a cold run cannot skip, M", "",
             f"Read and parse every file as the floor does, render every model (both ways where "
             f"it names `is_incremental()`), parse every rendering with sqlglot, run the repo's "
             f"generator: {fmt_s(required['cpu_median_s'])} of CPU time in one process "
             f"({fmt_s(required['median_s'])} wall). Spread perfectly over {cores} cores, no "
             f"cold run that does this work can take less than {fmt_s(bound)}; it checks "
             "nothing yet (no column resolved, no schema validated). What a limit leaves above "
             "that bound is all the time there is for the checking itself, on both cores.", "",
             "| M cold limit | value | limit / bound | left for the checks (both cores) |",
             "|---|---|---|---|"]
    limits = []
    if m.get("dbt_cold"):
        limits.append(("1/8 of `dbt parse` cold", m["dbt_cold"]["median_s"] / 8))
    if m.get("floor"):
        limits.append(("3x the file-reading floor", m["floor"]["median_s"] * 3))
    for label, limit in limits:
        left = max(0.0, limit - bound) * cores
        lines.append(f"| {label} | {fmt_s(limit)} | {limit / bound:.2f}x | {fmt_s(left)} of CPU |")
    cold = m.get("cold_no_cache")
    if cold is not None:
        checking = cold["cpu_median_s"] - required["cpu_median_s"]
        lines += ["", f"lotus-check `--no-cache` for comparison: {fmt_s(cold['median_s'])} wall, "
                  f"{fmt_s(cold['cpu_median_s'])} CPU, {cold['median_s'] / bound:.2f}x the bound; "
                  f"its CPU beyond the work above (the checking, the process pool's own cost): "
                  f"{fmt_s(checking)}."]
    return lines


def _load(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def existing_notes(path: Path) -> str:
    if not path.is_file():
        return "\n(What dominates each figure, what was tried: written by hand.)\n"
    text = path.read_text(encoding="utf-8")
    if NOTES_START in text and NOTES_END in text:
        return text.split(NOTES_START, 1)[1].split(NOTES_END, 1)[0]
    return "\n"


def draw_chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = list(results["sizes"])
    models = [results["sizes"][s]["models"] for s in sizes]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    styles = {"floor": ("k", "--"), "floor_read": ("grey", "--"), "cold_no_cache": ("tab:red", "-"),
              "cold_cache": ("tab:orange", "-"), "warm": ("tab:green", "-"),
              "one_file": ("tab:blue", "-"), "dbt_cold": ("tab:purple", ":"),
              "dbt_warm": ("tab:pink", ":")}
    for figure, (colour, line) in styles.items():
        values = [median(results, s, figure) for s in sizes]
        points = [(m, v) for m, v in zip(models, values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", color=colour, linestyle=line,
                    label=FIGURE_LABELS[figure])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("models in the tree")
    ax.set_ylabel("wall time (s, median)")
    ax.set_xticks(models, [f"{s}\n{m}" for s, m in zip(sizes, models)])
    ax.set_title(f"lotus-check vs dbt parse ({results['machine']['cpu_count']} cores, "
                 f"{results['date'][:10]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---- main ----------------------------------------------------------------------------------


def use_committed_code(rev: str, folder: Path) -> str:
    """Extract lotus_checks/ at `rev` and put it first on every child's PYTHONPATH.

    Others may be editing the working tree while the bench runs; a commit is a stable subject."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "lotus_checks"], cwd=REPO_ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    where = subprocess.run([sys.executable, "-c", "import lotus_checks; print(lotus_checks.__file__)"],
                           cwd=folder.parent, capture_output=True, text=True,
                           check=True).stdout.strip()
    if not where.startswith(str(folder)):
        raise RuntimeError(f"PYTHONPATH did not take: lotus_checks imports from {where}")
    return f"commit {commit}"


IMPORT_LOCATION = "import lotus_checks; print(lotus_checks.__file__)"


def compile_bytecode() -> None:
    """Byte-compile lotus_checks/ as `pip install` does: an editable install (or a
    PYTHONDONTWRITEBYTECODE environment) would otherwise compile every module on every run."""
    where = subprocess.run([sys.executable, "-c", IMPORT_LOCATION], capture_output=True,
                           text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(where).parent)],
                   check=True, stdout=subprocess.DEVNULL)


def write_docs(results: dict[str, Any], docs_dir: Path) -> None:
    docs_dir.mkdir(parents=True, exist_ok=True)
    md = docs_dir / "performance.md"
    chart = draw_chart(results, docs_dir / "performance.png")
    md.write_text(render_markdown(results, existing_notes(md),
                                  "performance.png" if chart else None), encoding="utf-8")
    print(f"wrote {md}" + ("" if chart else " (no chart: pip install matplotlib)"),
          file=sys.stderr)


def machine_info() -> dict[str, Any]:
    import sqlglot

    import lotus_checks

    try:
        from importlib.metadata import version

        dbt_version: str | None = version("dbt-core")
    except Exception:  # noqa: BLE001 - not installed
        dbt_version = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "lotus_checks"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout
    commit = (commit or "unknown") + (" + uncommitted changes in lotus_checks/" if dirty else "")
    return {
        "cpu_count": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "lotus_checks": lotus_checks.__version__,
        "commit": commit,
        "sqlglot": sqlglot.__version__,
        "sqlglot_compiled": not str(getattr(sqlglot.parser, "__file__", "")).endswith(".py"),
        "dbt": dbt_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="S,M,L", help="comma-separated, of S, M, L")
    parser.add_argument("--repeat", type=int, help="runs per figure (default: 5 for S/M, 3 for L)")
    parser.add_argument("--no-dbt", action="store_true", help="skip dbt parse")
    parser.add_argument("--no-profile", action="store_true", help="skip cProfile and importtime")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="results folder")
    parser.add_argument("--docs-dir", type=Path, default=REPO_ROOT / "docs",
                        help="where performance.md / performance.png go")
    parser.add_argument("--no-docs", action="store_true", help="write only the results JSON")
    parser.add_argument("--work", type=Path, help="where to generate trees (default: a temp "
                        "folder, deleted afterwards)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regen", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: rewrite performance.md/.png from a results file")
    parser.add_argument("--at", metavar="REV", help="measure lotus_checks/ as committed at REV "
                        "(git archive into the work folder) instead of the working tree")
    args = parser.parse_args(argv)
    if args.regen:
        write_docs(json.loads(args.regen.read_text(encoding="utf-8")), args.docs_dir)
        return 0
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        parser.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    work = args.work or Path(tempfile.mkdtemp(prefix="lotus-bench-"))
    scratch = work / "_scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    repeats = {s: args.repeat or DEFAULT_REPEAT[s] for s in sizes}
    code = "working tree"
    if args.at:
        code = use_committed_code(args.at, work / "_code")
        log(f"measuring lotus_checks/ at {code}")
    compile_bytecode()
    results: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {**machine_info(), "code": code},
        "seed": args.seed,
        "repeat": repeats,
        "repeat_note": ", ".join(f"{n} runs for {s}" for s, n in repeats.items())
        + f" ({args.repeat or QUICK_REPEAT} for the floor, warm and one-model figures)",
        "sizes": {},
        # Other work on the machine skews wall times; recorded so a reader can tell.
        "load_average_start": os.getloadavg(),
    }
    launcher = Launcher()
    try:
        results["startup"] = bench_startup(launcher, max(repeats.values()), scratch)
        log("start-up: " + ", ".join(f"{k} {v['median_s'] * 1000:.0f} ms"
                                     for k, v in results["startup"].items()))
        if not args.no_profile:
            results["importtime"] = import_times(["--version"])
        for size in sizes:
            root = work / size
            quick = args.repeat or QUICK_REPEAT
            results["sizes"][size] = bench_size(launcher, size, root, repeats[size], quick,
                                                not args.no_dbt, args.seed, scratch, log)
        if "M" in sizes and "L" in sizes:
            results["growth"] = bench_growth(launcher, {s: work / s for s in ("M", "L")},
                                             GROWTH_PAIRS, scratch, log)
        if not args.no_profile:
            profile_size = "M" if "M" in sizes else sizes[-1]
            results["profile_size"] = profile_size
            # --jobs 1: a worker pool's work is invisible to the profiler of the main process.
            results["profile"] = profile_run(work / profile_size, scratch,
                                             ["--no-cache", "--jobs", "1"])
            results["profile_one_file"] = profile_one_file(work / profile_size, scratch)
            log(f"profiled {profile_size}")
    finally:
        launcher.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["load_average_end"] = os.getloadavg()
    results["targets"] = evaluate_targets(results)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = results["date"][:19].replace(":", "")
    text = json.dumps(results, indent=2) + "\n"
    (args.out / f"results-{stamp}.json").write_text(text, encoding="utf-8")
    (args.out / "latest.json").write_text(text, encoding="utf-8")
    if not args.no_docs:
        write_docs(results, args.docs_dir)
    for t in results["targets"]:
        mark = {True: "ok  ", False: "FAIL", None: "n/a "}[t["pass"]]
        log(f"{mark} {t['target']}: {fmt_value(t['value'], t['unit'])} "
            f"(limit {fmt_value(t['limit'], t['unit'])})")
    log(f"wrote {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
