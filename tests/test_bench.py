"""The benchmark apparatus: the synthetic tree generator and bench/run.py (size S only)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import check_tree
from tests.conftest import codes

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_bench_script(name: str) -> ModuleType:
    """A script of bench/ imported as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generate_tree() -> ModuleType:
    return load_bench_script("generate_tree")


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return load_bench_script("run")


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_same_seed_gives_the_same_bytes(generate_tree: ModuleType, tmp_path: Path) -> None:
    generate_tree.generate(tmp_path / "a", 3, 5, 7)
    generate_tree.generate(tmp_path / "b", 3, 5, 7)
    generate_tree.generate(tmp_path / "c", 3, 5, 8)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_tree_has_the_lotus_lake_shape(generate_tree: ModuleType, tmp_path: Path) -> None:
    counts = generate_tree.generate(tmp_path, 3, 5, 1)
    orch = tmp_path / "orchestration"
    assert counts == {"sources": 3, "streams": 15, "models": 17}
    assert len(list(orch.glob("assets/streams/*/[!_]*.json"))) == 15
    assert len(list(orch.glob("assets/sources/*/*.json"))) == 15
    assert len(list(orch.glob("assets/core/*/int_*__*.sql"))) == 15
    assert len(list(orch.glob("assets/marts/*/*.sql"))) == 2
    # The third source is loaded by dlt: no catalog, no Terraform connection.
    catalogs = sorted(p.parent.name for p in orch.glob("assets/streams/*/_catalog.json"))
    assert catalogs == ["klaviyo", "shopify"]
    connections = (orch / "airbyte/terraform/connections.tf").read_text()
    assert connections.count('resource "airbyte_connection"') == 2
    assert '"connector": "dlt"' in (orch / "assets/streams/stripe/users.json").read_text()
    project = (orch / "dbt_project.yml").read_text()
    assert all(f"  - assets/core/{s}\n" in project for s in ("shopify", "klaviyo", "stripe"))
    # Every pattern of DESIGN.md appears somewhere in the models.
    sql = "\n".join(p.read_text() for p in orch.glob("assets/**/*.sql"))
    for pattern in ("{{ source(", "read_parquet('s3://landing/raw/",
                    'read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)',
                    "select *", "unnest(", "::JSON->>'$.", "qualify row_number()",
                    "{% if is_incremental() %}", "{{ ref('int_", "incremental_strategy="):
        assert pattern in sql, pattern
    # Objects with properties and arrays of objects in the selected fields.
    config = json.loads((orch / "assets/streams/shopify/charges.json").read_text())
    kinds = {f["type"] for f in config["fields"].values()}
    assert {"object", "array"} <= kinds


def test_generated_tree_is_clean(generate_tree: ModuleType, run: ModuleType,
                                 tmp_path: Path) -> None:
    """Every check must accept the synthetic tree: the bench measures clean runs. The small
    size has every model pattern and a dlt source."""
    generate_tree.generate(tmp_path, *run.SIZES["S"], 1)
    assert codes(check_tree(tmp_path)) == []


def test_catalogs_come_from_the_reference_generator(
    generate_tree: ModuleType, tmp_path: Path
) -> None:
    generate_tree.generate(tmp_path, 3, 5, 1)
    generator = tmp_path / "orchestration/airbyte/generate-catalog.py"
    check = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True,
                           check=False)
    assert check.returncode == 0, check.stdout


@pytest.mark.slow
def test_generated_tree_passes_dbt_parse(generate_tree: ModuleType, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # dbt is a test dependency (the `dbt` extra), run in this process as tests/dbt/ runs it.
    from dbt.cli.main import dbtRunner

    generate_tree.generate(tmp_path, 3, 5, 1)
    project = tmp_path / "orchestration"
    monkeypatch.chdir(project)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    done = dbtRunner().invoke(["parse", "--project-dir", str(project), "--profiles-dir",
                               str(project), "--quiet", "--log-level-file", "none"])
    assert done.success, f"{done.exception!r}: {done.exception}"
    manifest = json.loads((project / "target/manifest.json").read_text())
    models = [n for n in manifest["nodes"] if n.startswith("model.")]
    assert len(models) == 17
    assert len(manifest["sources"]) == 15


def test_floor_parses_each_model_as_a_jinja_template(generate_tree: ModuleType, run: ModuleType,
                                                     tmp_path: Path) -> None:
    # "Read and parse every input file": a model Jinja cannot parse makes the floor fail.
    generate_tree.generate(tmp_path, 1, 2, 1)

    def floor() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", run.FLOOR_SCRIPT, str(tmp_path)],
                              capture_output=True, text=True, check=False)

    files = [p for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts
             and p.suffix in (".json", ".yml", ".sql", ".tf", ".py")]
    assert floor().stdout.strip() == str(len(files))
    model = next(tmp_path.glob("orchestration/assets/core/*/int_*.sql"))
    model.write_text(model.read_text() + "{% if %}\n")
    broken = floor()
    assert broken.returncode != 0 and "TemplateSyntaxError" in broken.stderr


class RecordingLauncher:
    """Stands in for bench/run.py's Launcher: records each command and the edited model's
    text at the time it ran."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.calls: list[tuple[list[str], str]] = []

    def run(self, cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> object:
        self.calls.append((cmd, self.model.read_text()))
        return load_bench_script("run").Sample(0.1, 0.1, 10.0)


def test_one_model_changed_edits_a_model_and_checks_the_whole_repo(
    run: ModuleType, tmp_path: Path
) -> None:
    # As the hooks run: no file arguments. Each one-edit run sees a text no earlier run saw;
    # the warm run right after it sees the same tree; the tree is put back at the end.
    tree = run.Tree("S", tmp_path / "S", 1, None)
    original = tree.model.read_text()
    launcher = RecordingLauncher(tree.model)
    for _ in range(2):
        for figure in run.ROUND:
            tree.measure(launcher, figure)
    lotus = [*run.lotus_command(), "--root", str(tree.root)]
    by_figure: dict[str, list[str]] = {}
    for figure, (cmd, text) in zip([f for f in run.ROUND if f != "dbt_cold"] * 2, launcher.calls):
        by_figure.setdefault(figure, []).append(text)
        if figure in ("one_edit", "warm"):
            assert cmd == lotus
        elif figure == "cold":
            assert cmd == [*lotus, "--no-cache"]
    edits = by_figure["one_edit"]
    assert len(edits) == 4 and len(set(edits) | {original}) == 5
    assert by_figure["warm"] == edits
    tree.restore()
    assert tree.model.read_text() == original


def _results(models: dict[str, int], figures: dict[str, dict[str, float]]) -> dict:
    return {"sizes": {size: {"models": n, "figures": {
        name: {"median_s": value, "peak_rss_mb": figures.get(f"{size} rss", {}).get(name, 50.0)}
        for name, value in figures.get(size, {}).items()}} for size, n in models.items()},
        "startup": {"version": {"median_s": 0.045}, "python": {"median_s": 0.03}}}


def test_targets_are_the_issues(run: ModuleType) -> None:
    results = _results({"M": 500, "L": 2000}, {
        "M": {"floor": 0.3, "cold": 2.0, "warm": 0.3, "one_edit": 0.7, "dbt_cold": 8.0},
        "L": {"floor": 1.0, "cold": 9.0, "warm": 0.5, "one_edit": 0.9},
        "L rss": {"cold": 320.0, "warm": 40.0}})
    targets = {t["target"]: t for t in run.evaluate_targets(results)}
    assert targets["M: `--no-cache` / `dbt parse` cold"]["value"] == 0.25
    assert targets["M: `--no-cache` / `dbt parse` cold"]["pass"] is True
    assert targets["M: warm / floor"]["pass"] is True  # 1.0x <= 1.2x
    assert targets["M: one model changed / floor"]["pass"] is False  # 2.33x > 2x
    growth = targets["L / M: `lotus-check --no-cache`"]
    assert (growth["value"], growth["limit"], growth["pass"]) == (4.5, 4.0, False)
    assert targets["L / M: `lotus-check` after one model changed"]["pass"] is True
    assert targets["L: peak memory of lotus-check"]["value"] == 320.0
    assert targets["L: peak memory of lotus-check"]["pass"] is False
    assert targets["`lotus-check --version`"]["value"] == 45.0
    # A size or tool that did not run is not judged.
    quick = run.evaluate_targets(_results({"S": 30}, {"S": {"floor": 0.1, "warm": 0.1}}))
    assert {t["target"] for t in quick if t["pass"] is not None} == {"`lotus-check --version`"}


def test_write_docs_replaces_only_the_marked_block(run: ModuleType, tmp_path: Path) -> None:
    results = _results({"S": 30}, {"S": {"floor": 0.1, "cold": 0.5, "warm": 0.11,
                                         "one_edit": 0.2}})
    results.update({
        "date": "2026-12-07T05:00:00+00:00", "rounds": 1, "load_average_start": [0.5, 0, 0],
        "load_average_end": [0.7, 0, 0],
        "machine": {"cpu_count": 2, "platform": "Linux x86_64", "python": "3.11", "commit": "abc",
                    "lotus_checks": "0.1.0", "sqlglot": "30", "sqlglot_compiled": True,
                    "dbt": None}})
    results["sizes"]["S"]["findings"] = {}
    results["targets"] = run.evaluate_targets(results)
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\nintro\n{run.BLOCK_START}\nold figures\n{run.BLOCK_END}\nafter\n")
    run.write_docs(results, tmp_path)
    text = doc.read_text()
    assert text.startswith("# Performance\nintro\n") and text.endswith(f"{run.BLOCK_END}\nafter\n")
    assert "old figures" not in text
    assert "| `lotus-check`, warm (nothing changed) | 110 ms (1.10x floor) |" in text
    assert "| `lotus-check --no-cache` | 500 ms |" in text  # no dbt parse to compare with
    assert "| M: warm / floor | – | ≤ 1.20x | not measured |" in text
    doc.write_text("# Performance\nno markers\n")
    with pytest.raises(RuntimeError, match="no .* block"):
        run.write_docs(results, tmp_path)


def test_only_a_full_run_rewrites_the_published_docs(run: ModuleType) -> None:
    full = {"M": 500, "S": 30, "L": 2000}
    timed = {s: {"dbt_cold": 1.0, "cold": 0.5} for s in full}
    assert run.default_docs_dir(_results(full, timed)) == BENCH.parent / "docs"
    del timed["L"]["dbt_cold"]
    assert run.default_docs_dir(_results(full, timed)) is None  # one size without dbt
    assert run.default_docs_dir(_results({"S": 30}, {"S": timed["S"]})) is None


def test_quick_run_on_size_s(run: ModuleType, tmp_path: Path) -> None:
    """The quick run works end to end, writes the results and the docs it is pointed at, and
    --regen writes the docs again from the results."""
    work, out, docs = tmp_path / "work", tmp_path / "out", tmp_path / "docs"
    docs.mkdir()
    (docs / "performance.md").write_text(f"intro\n{run.BLOCK_START}\n{run.BLOCK_END}\n")
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--sizes", "S", "--repeat", "1", "--no-dbt",
         "--out", str(out), "--work", str(work), "--docs-dir", str(docs)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| file-reading floor |" in done.stdout
    results = json.loads((out / "latest.json").read_text())
    size = results["sizes"]["S"]
    assert size["models"] == 30 and size["findings"] == {}
    assert set(size["figures"]) == {"floor", "cold", "warm", "one_edit"}
    assert [len(size["figures"][f]["runs_s"]) for f in ("cold", "floor", "warm")] == [1, 2, 2]
    # ru_maxrss of the command itself, not of the bench script that generated the tree.
    assert 0 < size["figures"]["floor"]["peak_rss_mb"] < 60
    assert results["startup"]["version"]["median_s"] > 0
    # The edited model is put back: the tree is as generated.
    status = subprocess.run(["git", "status", "--porcelain"], cwd=work / "S",
                            capture_output=True, text=True, check=True).stdout
    assert status == ""
    text = (docs / "performance.md").read_text()
    assert text.startswith("intro\n") and "| file-reading floor |" in text
    (docs / "performance.md").write_text(f"{run.BLOCK_START}\n{run.BLOCK_END}\n")
    assert run.main(["--regen", str(out / "latest.json"), "--docs-dir", str(docs)]) == 0
    assert (docs / "performance.md").read_text().count("| file-reading floor |") == 1
