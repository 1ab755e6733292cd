"""The package's layout shows the flow, and its imports keep to it (docs/architecture.md).

config (core/) -> repo model (repo/, with sql/ and lake/) -> checks (checks/) -> findings ->
reporters (output/), driven by engine.py and cli.py; incremental/ (the cache) and adoption/
(baseline, changed files) hang off the engine and the CLI. Every import counts, those inside
functions too; only imports under `if TYPE_CHECKING:` (annotations, never run) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lotus_checks

PACKAGE = "lotus_checks"

# What each layer may import besides itself and the package root (`__version__`): layers, or
# single modules by their dotted name.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "sql": frozenset({"core"}),
    # The platform's tools and formats know the config, never the repo model.
    "lake": frozenset({"core", "sql"}),
    # The repo model's typed facts are computed with sql/ (rendered and resolved models) and
    # lake/ (parsed Terraform, the generator's run).
    "repo": frozenset({"core", "sql", "lake"}),
    "checks": frozenset({"core", "repo", "lake", "sql"}),
    # The model-facts cache keeps what repo/ and sql/ compute; nothing below it knows it exists.
    "incremental": frozenset({"core", "repo", "sql"}),
    # The rule reference and `explain` are generated from the registry of rules.
    "output": frozenset({"core", f"{PACKAGE}.checks"}),
    # --changed-since widens changed files with the repo model (what a file is to the checks).
    "adoption": frozenset({"core", "repo"}),
    "engine": frozenset({"core", "repo", "lake", "sql", "checks", "incremental", "output",
                         "adoption"}),
    "cli": frozenset({"core", "repo", "lake", "sql", "checks", "incremental", "output",
                      "adoption", "engine"}),
}
TOP_MODULES = {"cli": "cli", "engine": "engine", "__main__": "cli"}


def module_files(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under `root`."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except in the body of `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(modules: dict[str, Path], package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package's `__init__` by its own name)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_init = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    anchor = name.split(".") if is_init else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in modules else base)
            for target in targets:
                # `import a.b.c` binds a module: the longest name the package has.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target.split(".")[0] == package and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that ends where it starts) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph has a few dozen nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, set(component), component[0]) for component in components]


def _cycle_in(graph: dict[str, set[str]], members: set[str], start: str) -> list[str]:
    """A shortest path start -> ... -> start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node] & members):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if succ not in previous:
                previous[succ] = node
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")


def layer(module: str, package: str = PACKAGE) -> str | None:
    """The layer a module belongs to; None for the package root; `?` for a stray module."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if len(parts) == 1 and parts[0] not in ALLOWED:
        return TOP_MODULES.get(parts[0], "?")
    return parts[0] if parts[0] in ALLOWED else "?"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        own = layer(module)
        if own is None or own == "?":
            continue
        for target in sorted(targets):
            theirs = layer(target)
            if theirs is None or theirs == own or theirs in ALLOWED[own] or target in ALLOWED[own]:
                continue
            out.append(f"{module} ({own}) imports {target} ({theirs})")
    return out


# ---- the package -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    root = Path(lotus_checks.__file__).resolve().parent.parent
    return import_graph(module_files(root))


def test_every_module_has_a_place_in_the_layout(graph: dict[str, set[str]]) -> None:
    stray = sorted(m for m in graph if layer(m) == "?")
    assert not stray, (
        "modules outside the layout (core/ repo/ lake/ sql/ checks/ incremental/ output/ "
        f"adoption/, or cli.py, engine.py at the top): {stray}")


def test_the_graph_sees_imports_inside_functions(graph: dict[str, set[str]]) -> None:
    """cli imports the engine inside a function (start-up stays cheap): the graph has the edge."""
    assert "lotus_checks.engine" in graph["lotus_checks.cli"]
    assert "lotus_checks.checks" in graph["lotus_checks.engine"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    found = [" -> ".join(cycle) for cycle in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_layers_import_only_what_is_below_them(graph: dict[str, set[str]]) -> None:
    found = layer_violations(graph)
    assert not found, "imports against the layering (docs/architecture.md):\n" + "\n".join(found)


# ---- the analysis itself, on a package made for it ---------------------------------------------


def _package(root: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(module_files(root))


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    graph = _package(tmp_path, {
        "__init__.py": "",
        "repo/__init__.py": "",
        "repo/model.py": "def digest():\n    from lotus_checks.incremental.replay import key\n",
        "incremental/__init__.py": "",
        "incremental/replay.py": "from lotus_checks.repo import model\n",
        "core/__init__.py": "",
        "core/config.py": "from . import finding\n",
        "core/finding.py": "import lotus_checks.core.config as config\n",
    })
    assert cycles(graph) == [
        ["lotus_checks.core.config", "lotus_checks.core.finding", "lotus_checks.core.config"],
        ["lotus_checks.incremental.replay", "lotus_checks.repo.model",
         "lotus_checks.incremental.replay"],
    ]
    assert layer_violations(graph) == [
        "lotus_checks.repo.model (repo) imports lotus_checks.incremental.replay (incremental)"]


def test_type_checking_imports_and_allowed_layers_are_not_reported(tmp_path: Path) -> None:
    graph = _package(tmp_path, {
        "__init__.py": "__version__ = '1'\n",
        "cli.py": "from lotus_checks import __version__\n\ndef main():\n"
                  "    from lotus_checks.engine import run\n",
        "engine.py": "from lotus_checks.checks import naming\n",
        "checks/__init__.py": "",
        "checks/naming.py": "from typing import TYPE_CHECKING\n"
                            "from lotus_checks.core.rules import Rule\n"
                            "if TYPE_CHECKING:\n    from lotus_checks.engine import run\n",
        "core/__init__.py": "",
        "core/rules.py": "import json\n",
        "output/__init__.py": "",
        "output/docs.py": "from lotus_checks.checks import all_rules\n",
        "stray.py": "",
    })
    assert graph["lotus_checks.cli"] == {"lotus_checks", "lotus_checks.engine"}
    assert graph["lotus_checks.checks.naming"] == {"lotus_checks.core.rules"}
    assert cycles(graph) == []
    assert layer_violations(graph) == []
    assert [m for m in graph if layer(m) == "?"] == ["lotus_checks.stray"]


def test_a_layer_allowed_one_module_of_another_may_not_import_the_rest(tmp_path: Path) -> None:
    graph = _package(tmp_path, {
        "__init__.py": "",
        "checks/__init__.py": "",
        "checks/naming.py": "",
        "output/__init__.py": "",
        "output/docs.py": "from lotus_checks.checks import all_rules\n"
                          "from lotus_checks.checks.naming import RULES\n",
    })
    assert layer_violations(graph) == [
        "lotus_checks.output.docs (output) imports lotus_checks.checks.naming (checks)"]
