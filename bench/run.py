#!/usr/bin/env python3
"""Benchmark lotus-check against the file-reading floor and `dbt parse`, in one run.

    python bench/run.py                                   # the real run: S, M, L, with dbt
    python bench/run.py --sizes S --repeat 1 --no-dbt     # a quick check that it works

On generated trees of about 30, 500 and 2,000 models (bench/generate_tree.py) it times, each
in a fresh process: the file-reading floor; `lotus-check --no-cache`; `lotus-check` warm (cache
full, nothing changed); `lotus-check` after one model changed (one model's text edited, the
whole repo checked with no file arguments, as the pre-commit hooks run); `dbt parse` cold.
Plus `lotus-check --version`. The runs are interleaved in rounds (every figure of every size
once per round), so a machine whose speed drifts slows every figure alike.

It prints the results table, writes `<out>/latest.json` and, after a full run (S, M and L,
with dbt) or with `--docs-dir`, rewrites the results section of docs/performance.md (between
its `bench:start` / `bench:end` markers) and draws docs/performance.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
import generate_tree

# sources x streams per source; models = sources x streams + 2 marts.
SIZES: dict[str, tuple[int, int]] = {"S": (4, 7), "M": (20, 25), "L": (50, 40)}
DEFAULT_ROUNDS = 7
CACHE_DIR = ".lotus_check_cache"
FIGURES = ("floor", "cold", "warm", "one_edit", "dbt_cold")
LABELS = {
    "floor": "file-reading floor",
    "cold": "`lotus-check --no-cache`",
    "warm": "`lotus-check`, warm (nothing changed)",
    "one_edit": "`lotus-check` after one model changed",
    "dbt_cold": "`dbt parse`, cold",
}
LOTUS_FIGURES = ("cold", "warm", "one_edit")
# The targets of issue 18.
COLD_VS_DBT = 0.35
WARM_VS_FLOOR = 1.2
ONE_EDIT_VS_FLOOR = 2.0
PEAK_RSS_MB = 300
VERSION_MS = 150
BLOCK_START = "<!-- bench:start (written by bench/run.py; edit bench/run.py, not this block) -->"
BLOCK_END = "<!-- bench:end -->"

# Read and parse every input file below the root, and nothing else: the cost of the repo
# itself. It runs as `python -c`, in a fresh process, so it pays the interpreter start-up
# lotus-check pays. Each file is parsed in its own format with the parser lotus-check uses for
# it: JSON, YAML, and a dbt model as the Jinja template it is (its syntax tree; nothing
# rendered, no SQL parsed). Terraform and Python are only read. Prints the number of files.
FLOOR_SCRIPT = r"""
import json, os, sys
import jinja2, yaml
environment = jinja2.Environment(extensions=["jinja2.ext.do"])
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
skip = {".git", "target", "dbt_packages", "logs", "node_modules", "__pycache__", ".lotus_check_cache"}
count = 0
for folder, dirs, names in os.walk(sys.argv[1]):
    dirs[:] = [d for d in dirs if d not in skip]
    for name in names:
        if not name.endswith((".json", ".yml", ".yaml", ".sql", ".tf", ".py", ".toml")):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            text = f.read()
        if name.endswith(".json"):
            json.loads(text)
        elif name.endswith((".yml", ".yaml")):
            yaml.load(text, Loader=loader)
        elif name.endswith(".sql"):
            environment.parse(text)
        count += 1
print(count)
"""

# Runs each measured command and reports its wall time, CPU time and peak RSS (wait4). A small
# process of its own, started before any tree is generated: on Linux a child's ru_maxrss starts
# at its parent's size (it survives exec), so children of this script, which grows with the
# trees it generates, would report the script's size as their own.
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


@dataclass
class Sample:
    wall_s: float
    # user + system CPU of the process and the children it waited for.
    cpu_s: float
    # The largest single process of the run (a pool's workers are not added up).
    peak_rss_mb: float


class Launcher:
    def __init__(self, scratch: Path) -> None:
        self.stderr = scratch / "stderr.txt"
        self.env = dict(os.environ)
        # No network from dbt (tracking would time out offline), no colour codes.
        self.env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
                         "NO_COLOR": "1"})
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER_SCRIPT],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> Sample:
        assert self.process.stdin is not None and self.process.stdout is not None
        job = {"cmd": cmd, "cwd": str(cwd), "env": self.env, "stderr": str(self.stderr)}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        out = json.loads(self.process.stdout.readline())
        if out["code"] not in ok_codes:
            tail = self.stderr.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} exited {out['code']}:\n{tail}")
        return Sample(out["wall"], out["cpu"], out["rss_kb"] / 1024)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def console_script(name: str) -> str | None:
    """The entry point beside this interpreter, else on PATH (a pyenv shim on PATH is a bash
    script that adds tens of milliseconds that are not lotus-check's or dbt's)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def lotus_command() -> list[str]:
    script = console_script("lotus-check")
    return [script] if script else [sys.executable, "-m", "lotus_checks"]


def dbt_command() -> list[str] | None:
    script = console_script("dbt")
    try:
        import dbt.adapters.duckdb  # noqa: F401
    except ImportError:
        return None
    return [script] if script else None


def pick_model(root: Path) -> Path:
    models = sorted((root / "orchestration" / "assets" / "core").glob("*/int_*.sql"))
    return models[len(models) // 2]


def summary(samples: list[Sample]) -> dict[str, Any]:
    walls = [s.wall_s for s in samples]
    return {"median_s": statistics.median(walls), "runs_s": walls,
            "cpu_median_s": statistics.median(s.cpu_s for s in samples),
            "peak_rss_mb": max(s.peak_rss_mb for s in samples)}


class Tree:
    """One generated tree and the commands measured on it."""

    def __init__(self, name: str, root: Path, seed: int, dbt: list[str] | None) -> None:
        self.name, self.root = name, root
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self.counts = generate_tree.generate(root, *SIZES[name], seed)
        generate_tree.git_commit(root)
        self.files = sum(1 for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
        self.model = pick_model(root)
        self.original = self.model.read_text(encoding="utf-8")
        self.edits = 0
        self.samples: dict[str, list[Sample]] = {}
        self.lotus = [*lotus_command(), "--root", str(root)]
        self.project = root / "orchestration"
        self.dbt = None if dbt is None else [
            *dbt, "parse", "--project-dir", str(self.project), "--profiles-dir", str(self.project)]

    def fill_cache(self) -> dict[str, int]:
        """A whole-repo run with an empty cache (not timed): it fills the cache and tells the
        findings on the tree, which is meant to be clean."""
        shutil.rmtree(self.root / CACHE_DIR, ignore_errors=True)
        out = subprocess.run([*self.lotus, "--output-format", "json"], cwd=self.root,
                             capture_output=True, text=True, check=False)
        if out.returncode not in (0, 1):
            raise RuntimeError(f"lotus-check exited {out.returncode} on {self.root}:\n"
                               f"{out.stderr[-2000:]}")
        counts: dict[str, int] = {}
        for finding in json.loads(out.stdout)["findings"]:
            counts[finding["code"]] = counts.get(finding["code"], 0) + 1
        return dict(sorted(counts.items()))

    def measure(self, launcher: Launcher, figure: str) -> None:
        if figure == "floor":
            sample = launcher.run([sys.executable, "-c", FLOOR_SCRIPT, str(self.root)], self.root)
        elif figure == "cold":
            sample = launcher.run([*self.lotus, "--no-cache"], self.root, ok_codes=(0, 1))
        elif figure == "one_edit":
            # A text no earlier run saw: exactly one model differs from the cached run's tree.
            self.edits += 1
            self.model.write_text(self.original + f"-- bench edit {self.edits}\n",
                                  encoding="utf-8")
            sample = launcher.run(self.lotus, self.root, ok_codes=(0, 1))
        elif figure == "warm":
            sample = launcher.run(self.lotus, self.root, ok_codes=(0, 1))
        elif figure == "dbt_cold":
            if self.dbt is None:
                return
            shutil.rmtree(self.project / "target", ignore_errors=True)
            sample = launcher.run(self.dbt, self.project)
        else:
            raise ValueError(figure)
        self.samples.setdefault(figure, []).append(sample)

    def restore(self) -> None:
        self.model.write_text(self.original, encoding="utf-8")


# One round, per tree. The costly figures run once; the quick ones (a fraction of a second, and
# the ones the targets hold against the floor) twice, each beside the floor. A one-edit run
# leaves the cache matching the edited tree, so the warm run right after it has nothing new.
ROUND = ("dbt_cold", "cold", "floor", "one_edit", "warm", "floor", "one_edit", "warm")


def bench(sizes: list[str], rounds: int, use_dbt: bool, seed: int, work: Path,
          log: Callable[[str], None]) -> dict[str, Any]:
    scratch = work / "_scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(scratch)
    results: dict[str, Any] = {"sizes": {}}
    try:
        version = [launcher.run([*lotus_command(), "--version"], scratch) for _ in range(rounds)]
        python = [launcher.run([sys.executable, "-c", "pass"], scratch) for _ in range(rounds)]
        results["startup"] = {"version": summary(version), "python": summary(python)}
        log(f"--version {results['startup']['version']['median_s'] * 1000:.0f} ms")
        dbt = dbt_command() if use_dbt else None
        if use_dbt and dbt is None:
            log("dbt-duckdb is not installed: no dbt parse figures")
        trees = []
        for name in sizes:
            start = time.perf_counter()
            tree = Tree(name, work / name, seed, dbt)
            findings = tree.fill_cache()
            log(f"[{name}] {tree.counts['models']} models, {tree.files} files, generated and "
                f"checked in {time.perf_counter() - start:.0f} s; findings: {findings or 'none'}")
            results["sizes"][name] = {**tree.counts, "files": tree.files, "findings": findings}
            trees.append(tree)
        try:
            for i in range(rounds):
                for tree in trees:
                    for figure in ROUND:
                        tree.measure(launcher, figure)
                log(f"round {i + 1} of {rounds} done")
        finally:
            for tree in trees:
                tree.restore()
        for tree in trees:
            results["sizes"][tree.name]["figures"] = {
                figure: summary(samples) for figure, samples in tree.samples.items()}
    finally:
        launcher.close()
    return results


# ---- targets and report --------------------------------------------------------------------


def median(results: dict[str, Any], size: str, figure: str) -> float | None:
    fig = results["sizes"].get(size, {}).get("figures", {}).get(figure)
    return fig["median_s"] if fig else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's targets; a figure that was not measured is `pass: None`."""
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float | None, unit: str,
            note: str = "") -> None:
        # "at most" a ratio; "under" a size or a time
        ok = None if value is None or limit is None else (
            value <= limit if unit == "x" else value < limit)
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "pass": ok, "note": note})

    m_floor = median(results, "M", "floor")
    add("M: `--no-cache` / `dbt parse` cold",
        ratio(median(results, "M", "cold"), median(results, "M", "dbt_cold")), COLD_VS_DBT, "x")
    add("M: warm / floor", ratio(median(results, "M", "warm"), m_floor), WARM_VS_FLOOR, "x")
    add("M: one model changed / floor", ratio(median(results, "M", "one_edit"), m_floor),
        ONE_EDIT_VS_FLOOR, "x")
    sizes = results["sizes"]
    growth = ratio(sizes.get("L", {}).get("models"), sizes.get("M", {}).get("models"))
    for figure in LOTUS_FIGURES:
        add(f"L / M: {LABELS[figure]}",
            ratio(median(results, "L", figure), median(results, "M", figure)),
            growth, "x", f"models: {growth:.2f}x" if growth else "")
    large = sizes.get("L", {}).get("figures", {})
    peaks = [large[f]["peak_rss_mb"] for f in LOTUS_FIGURES if f in large]
    add("L: peak memory of lotus-check", max(peaks) if peaks else None, PEAK_RSS_MB, "MB")
    version = results.get("startup", {}).get("version")
    add("`lotus-check --version`", version["median_s"] * 1000 if version else None,
        VERSION_MS, "ms")
    return targets


def fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}x" if unit == "x" else f"{value:.0f} {unit}"


def results_block(results: dict[str, Any]) -> str:
    """The results section of docs/performance.md (markdown; also what the run prints)."""
    m = results["machine"]
    sizes = list(results["sizes"])
    startup = results.get("startup", {})
    findings = "; ".join(
        f"{s}: " + (", ".join(f"{c} x{n}" for c, n in f.items()) or "none")
        for s, f in ((s, results["sizes"][s]["findings"]) for s in sizes))
    out = [
        (f"Measured {results['date']} by `python bench/run.py` on {m['cpu_count']} cores "
        f"({m['platform']}), Python {m['python']}, lotus-checks {m['lotus_checks']} (commit "
        f"{m['commit']}), sqlglot {m['sqlglot']}"
        f"{' (compiled, sqlglotc)' if m['sqlglot_compiled'] else ''}, dbt-core "
        f"{m['dbt'] or 'not installed'}. Medians of {results['rounds']} "
        f"round{'s' if results['rounds'] > 1 else ''} (the floor, warm and one-model figures "
        f"twice per round); load average at the start "
        f"{results['load_average_start'][0]:.1f}, at the end "
        f"{results['load_average_end'][0]:.1f}. Findings on the generated trees: {findings}."),
        "",
        "| wall time | " + " | ".join(
            f"{s}: {results['sizes'][s]['models']} models" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    compare = {"cold": ("dbt_cold", "dbt parse"), "warm": ("floor", "floor"),
               "one_edit": ("floor", "floor")}
    for figure in FIGURES:
        cells = []
        for s in sizes:
            value = median(results, s, figure)
            cell = fmt_s(value)
            if figure in compare and value is not None:
                base, name = compare[figure]
                against = ratio(value, median(results, s, base))
                cell += f" ({against:.2f}x {name})" if against is not None else ""
            cells.append(cell)
        out.append(f"| {LABELS[figure]} | " + " | ".join(cells) + " |")
    peaks = []
    for s in sizes:
        figures = results["sizes"][s].get("figures", {})
        values = [figures[f]["peak_rss_mb"] for f in LOTUS_FIGURES if f in figures]
        peaks.append(f"{max(values):.0f} MB" if values else "–")
    out.append("| peak memory of lotus-check | " + " | ".join(peaks) + " |")
    if startup:
        out += ["", (f"`lotus-check --version`: {fmt_s(startup['version']['median_s'])} "
                     f"(`python -c pass`: {fmt_s(startup['python']['median_s'])}).")]
    out += ["", "| target (issue 18) | measured | limit | |", "|---|---:|---:|---|"]
    for t in results["targets"]:
        status = {True: "met", False: "**not met**", None: "not measured"}[t["pass"]]
        note = f" ({t['note']})" if t["note"] else ""
        limit = (f"{'≤' if t['unit'] == 'x' else '<'} {fmt_value(t['limit'], t['unit'])}"
                 if t["limit"] is not None else "≤ the models' ratio")
        out.append(f"| {t['target']} | {fmt_value(t['value'], t['unit'])} | {limit} | "
                   f"{status}{note} |")
    return "\n".join(out) + "\n"


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
    styles = {"floor": ("black", "--"), "cold": ("tab:red", "-"), "warm": ("tab:green", "-"),
              "one_edit": ("tab:blue", "-"), "dbt_cold": ("tab:purple", ":")}
    for figure, (colour, line) in styles.items():
        points = [(n, v) for n, v in zip(models, (median(results, s, figure) for s in sizes))
                  if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", color=colour, linestyle=line,
                    label=LABELS[figure].replace("`", ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("models in the tree")
    ax.set_ylabel("wall time, s (median)")
    ax.set_xticks(models, [str(n) for n in models])
    ax.tick_params(axis="x", which="minor", labelbottom=False)
    ax.set_title(f"lotus-check and dbt parse ({results['machine']['cpu_count']} cores, "
                 f"{results['date'][:10]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_docs(results: dict[str, Any], docs_dir: Path) -> None:
    """Replace the block between the markers of performance.md (the file is written with only
    the block when it does not exist yet) and draw performance.png."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    md = docs_dir / "performance.md"
    block = f"{BLOCK_START}\n{results_block(results)}{BLOCK_END}"
    text = md.read_text(encoding="utf-8") if md.is_file() else block + "\n"
    if BLOCK_START not in text or BLOCK_END not in text:
        raise RuntimeError(f"{md} has no {BLOCK_START!r} ... {BLOCK_END!r} block to replace")
    before, rest = text.split(BLOCK_START, 1)
    md.write_text(before + block + rest.split(BLOCK_END, 1)[1], encoding="utf-8")
    chart = draw_chart(results, docs_dir / "performance.png")
    print(f"wrote {md}" + ("" if chart else " (no chart: pip install matplotlib)"),
          file=sys.stderr)


# ---- main ----------------------------------------------------------------------------------


def compile_bytecode() -> None:
    """Byte-compile lotus_checks/ as `pip install` does: an editable install in an environment
    with PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run."""
    where = subprocess.run([sys.executable, "-c", "import lotus_checks; print(lotus_checks.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(where).parent)],
                   check=True, stdout=subprocess.DEVNULL)


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import sqlglot

    import lotus_checks

    try:
        dbt_version: str | None = version("dbt-core")
    except PackageNotFoundError:
        dbt_version = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "lotus_checks"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout
    return {
        "cpu_count": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "lotus_checks": lotus_checks.__version__,
        "commit": (commit or "unknown") + (" + uncommitted changes" if dirty else ""),
        "sqlglot": sqlglot.__version__,
        "sqlglot_compiled": not str(getattr(sqlglot.parser, "__file__", "")).endswith(".py"),
        "dbt": dbt_version,
    }


def default_docs_dir(results: dict[str, Any]) -> Path | None:
    """docs/ after a full run (every size, with dbt), else nothing: a quick run must not
    replace the published figures."""
    full = set(results["sizes"]) == set(SIZES) and all(
        median(results, size, "dbt_cold") for size in SIZES)
    return REPO_ROOT / "docs" if full else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="S,M,L", help="comma-separated, of S, M, L")
    parser.add_argument("--repeat", type=int, default=DEFAULT_ROUNDS,
                        help=f"rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--no-dbt", action="store_true", help="skip dbt parse")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="results folder")
    parser.add_argument("--docs-dir", type=Path, help="where performance.md / performance.png "
                        "go (default: docs/, after a full run only)")
    parser.add_argument("--no-docs", action="store_true", help="write no docs")
    parser.add_argument("--work", type=Path, help="where to generate the trees (default: a "
                        "temporary folder, deleted afterwards)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regen", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: rewrite the docs from a results file")
    args = parser.parse_args(argv)
    if args.regen:
        measured = json.loads(args.regen.read_text(encoding="utf-8"))
        measured["targets"] = evaluate_targets(measured)
        write_docs(measured, args.docs_dir or REPO_ROOT / "docs")
        return 0
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(s not in SIZES for s in sizes):
        parser.error(f"--sizes: choose from {', '.join(SIZES)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    compile_bytecode()
    results: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "seed": args.seed,
        "rounds": args.repeat,
        # Other work on the machine skews wall times; recorded so a reader can tell.
        "load_average_start": os.getloadavg(),
    }
    work = args.work or Path(tempfile.mkdtemp(prefix="lotus-bench-"))
    try:
        results.update(bench(sizes, args.repeat, not args.no_dbt, args.seed, work, log))
    except RuntimeError as error:
        log(f"bench failed: {error}")
        return 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["load_average_end"] = os.getloadavg()
    results["targets"] = evaluate_targets(results)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(results_block(results))
    docs_dir = None if args.no_docs else args.docs_dir or default_docs_dir(results)
    if docs_dir is None:
        log("docs not rewritten (a partial run; --docs-dir DIR writes them anyway)")
    else:
        write_docs(results, docs_dir)
    log(f"wrote {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
