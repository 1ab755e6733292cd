"""What the Dagster code beside the dbt project says about how it runs dbt: the selections its dbt
assets use (`select=...`, `--select ...`) and the vars it passes (`--vars ...`).

The code is read with `ast`, never run: comments, docstrings and strings that select nothing do
not count (`select = 'tag:core'  # TODO: f'tag:{source}__{stream}'` selects by `tag:core`). A
string built at run time (an f-string, `.format()`, `%`, `+`, a variable holding one) is read
with DYNAMIC in place of each part filled in at run time: `f"tag:{source}__{stream}"` reads as
`tag:\\0__\\0`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

DYNAMIC = "\0"  # a part of a string filled in at run time

# dbt's flags that take a selection, and its flag that takes the vars.
SELECT_FLAGS = frozenset({"--select", "-s", "--models", "-m"})
SELECT_KEYWORDS = frozenset({"select", "dbt_select"})
VARS_FLAG = "--vars"
DEFAULT_SELECTION = "fqn:*"  # what `@dbt_assets` selects without `select=`: every model


@dataclass(frozen=True)
class DagsterCode:
    """What the repo's Dagster code tells, with `found` False when there is none."""

    found: bool = False
    # Each selection (a `select=` argument or the value after `--select`), as text.
    selections: tuple[str, ...] = ()
    # Every string the code builds (outside docstrings), for selections passed on indirectly.
    strings: tuple[str, ...] = ()
    # The var names some `--vars` passes; None when some `--vars` value cannot be read.
    passed_vars: frozenset[str] | None = frozenset()
    # Each dbt command written as a list: (its selection, DYNAMIC when it has no `--select`;
    # the vars it passes, None when they cannot be read).
    runs: tuple[tuple[str, frozenset[str] | None], ...] = ()


def read_dagster_code(sources: Iterable[str]) -> DagsterCode:
    """What the Python `sources` (file texts) that import Dagster tell; unparsable files and
    files that do not import Dagster are skipped."""
    found = False
    selections: list[str] = []
    strings: list[str] = []
    passed: set[str] | None = set()
    runs: list[tuple[str, frozenset[str] | None]] = []
    for text in sources:
        if "dagster" not in text:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        if not _imports_dagster(tree):
            continue
        found = True
        module = _Module(tree)
        selections += module.selections()
        strings += module.strings()
        runs += module.runs()
        vars_here = module.passed_vars()
        passed = None if passed is None or vars_here is None else passed | vars_here
    return DagsterCode(found, tuple(selections), tuple(strings),
                       None if passed is None else frozenset(passed), tuple(runs))


def selectors(selection: str) -> list[str]:
    """The selectors of a dbt selection (`tag:a tag:b,tag:c` -> three), graph operators
    (`+`, `@`, `2+`) dropped."""
    out = []
    for part in re.split(r"[\s,]+", selection):
        part = re.sub(r"^@|^\d*\+|\+\d*$", "", part)
        if part:
            out.append(part)
    return out


def _imports_dagster(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0].startswith("dagster")
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster"):
            return True
    return False


class _Module:
    """One parsed Python file: its simple assignments, to follow a variable to its value."""

    def __init__(self, tree: ast.Module) -> None:
        # Every node, in ast.walk's order, walked once: each question below looks at them all.
        self.nodes = list(ast.walk(tree))
        self.assigned: dict[str, list[ast.expr]] = {}
        self.docstrings: set[int] = set()
        self.mutated: set[str] = set()  # names changed after assignment (`v["k"] = ...`)
        for node in self.nodes:
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                        self.mutated.add(target.value.id)
                    elif isinstance(node, ast.AugAssign) and isinstance(target, ast.Name):
                        self.mutated.add(target.id)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.attr in ("update", "setdefault", "pop", "__setitem__"):
                self.mutated.add(node.func.value.id)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and node.value is not None:
                self.assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                self.docstrings.add(id(node.value))  # docstrings and other bare strings

    def selections(self) -> list[str]:
        out = []
        for node in self.nodes:
            if isinstance(node, ast.Call):
                out += [self.text(k.value) for k in node.keywords if k.arg in SELECT_KEYWORDS]
                if _called_name(node) == "dbt_assets" and not any(
                        k.arg in SELECT_KEYWORDS for k in node.keywords):
                    out.append(DEFAULT_SELECTION)
            elif isinstance(node, (ast.List, ast.Tuple)):
                out += [self.text(value) for flag, value in _flag_values(node, SELECT_FLAGS)]
        return out

    def strings(self) -> list[str]:
        return [self.text(node) for node in self.nodes
                if isinstance(node, ast.expr) and self._builds_string(node)]

    def _builds_string(self, node: ast.AST) -> bool:
        """A string expression that is not a docstring (nor another bare string statement)."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str) and id(node) not in self.docstrings
        if isinstance(node, ast.Call):
            return _is_format(node)
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, (ast.Add, ast.Mod))
        return isinstance(node, ast.JoinedStr)

    def runs(self) -> list[tuple[str, frozenset[str] | None]]:
        """(selection, vars) of each dbt command list that selects or passes vars."""
        out = []
        for node in self.nodes:
            if not isinstance(node, (ast.List, ast.Tuple)):
                continue
            selected = [self.text(v) for _f, v in _flag_values(node, SELECT_FLAGS)]
            passing = [self.dict_keys(v) for _f, v in _flag_values(node, {VARS_FLAG})]
            if not selected and not passing:
                continue
            names: frozenset[str] | None = frozenset()
            for keys in passing:
                names = None if names is None or keys is None else names | keys
            out.append((" ".join(selected) if selected else DYNAMIC, names))
        return out

    def passed_vars(self) -> set[str] | None:
        """Names of the vars passed with `--vars`; None when a value cannot be read."""
        names: set[str] = set()
        flags = 0
        for node in self.nodes:
            if not isinstance(node, (ast.List, ast.Tuple)):
                continue
            for _flag, value in _flag_values(node, {VARS_FLAG}):
                flags += 1
                keys = self.dict_keys(value)
                if keys is None:
                    return None
                names |= keys
        mentioned = sum(
            1 for node in self.nodes
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and VARS_FLAG in node.value and id(node) not in self.docstrings
        )
        return names if mentioned <= flags else None  # `--vars` passed some other way

    def dict_keys(self, node: ast.expr, depth: int = 0) -> set[str] | None:
        """The keys of the mapping `node` passes: a dict literal, `json.dumps(...)` of one,
        `dict(a=...)`, a variable holding one, or a JSON/YAML string constant."""
        if depth > 8:
            return None
        if isinstance(node, ast.Dict):
            keys = set()
            for key in node.keys:
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    return None  # `**other` or a computed key
                keys.add(key.value)
            return keys
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in ("dumps", "safe_dump", "dump") and node.args:
                return self.dict_keys(node.args[0], depth + 1)
            if name == "dict" and not node.args:
                names = [k.arg for k in node.keywords]
                return {k for k in names if k is not None} if None not in names else None
            return None
        if isinstance(node, ast.Name):
            values = self.assigned.get(node.id, [])
            if len(values) != 1 or node.id in self.mutated:
                return None
            return self.dict_keys(values[0], depth + 1)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                data = json.loads(node.value)
            except ValueError:
                import yaml

                try:
                    data = yaml.safe_load(node.value)
                except yaml.YAMLError:
                    return None
            return {str(k) for k in data} if isinstance(data, dict) else None
        return None

    def text(self, node: ast.expr, depth: int = 0) -> str:
        """The string `node` builds, with DYNAMIC for what is known only at run time."""
        if depth > 8:
            return DYNAMIC
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else DYNAMIC
        if isinstance(node, ast.JoinedStr):
            return "".join(self.text(v.value, depth + 1) if isinstance(v, ast.FormattedValue)
                           else self.text(v, depth + 1) for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.text(node.left, depth + 1) + self.text(node.right, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) \
                and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            return re.sub(r"%(?:\([^)]*\))?[-+ #0]*\d*(?:\.\d+)?[sdirfx]", DYNAMIC,
                          node.left.value.replace("%%", "%"))
        if isinstance(node, ast.Call) and _is_format(node):
            assert isinstance(node.func, ast.Attribute)
            template = self.text(node.func.value, depth + 1)
            return re.sub(r"\{[^{}]*\}", DYNAMIC, template).replace("{{", "{").replace("}}", "}")
        if isinstance(node, ast.Name):
            values = self.assigned.get(node.id, [])
            if len(values) == 1:
                return self.text(values[0], depth + 1)
        return DYNAMIC


def _called_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_format(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr == "format" and isinstance(
        node.func.value, (ast.Constant, ast.Name, ast.JoinedStr))


def _flag_values(node: ast.List | ast.Tuple, flags: Iterable[str]) -> list[tuple[str, ast.expr]]:
    """(flag, the element after it) for each of `flags` among the list's string elements."""
    wanted = set(flags)
    out = []
    items = node.elts
    for i, item in enumerate(items[:-1]):
        if isinstance(item, ast.Constant) and item.value in wanted:
            out.append((str(item.value), items[i + 1]))
    return out
