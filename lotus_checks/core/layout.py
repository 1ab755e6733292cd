"""Finding the Lotus Lake layout from the tree itself, for the layout keys a config leaves out.

One bounded walk of the repo (hidden folders and tool folders skipped, depth and entries capped)
lists the folders and the few kinds of files that matter; then each layout key is worked out from
what the files are, not from where they sit:

- `dbt-project`: the `dbt_project.yml` of the tree;
- `streams` / `sources`: the folder whose `<source>/<stream>.json` files have the shape of stream
  configs (or hold a `_catalog.json`) / of source schemas;
- `models`: the folders the project's `model-paths` list (a listed per-source folder such as
  `dag/processed/shopify` stands for its parent, which holds one folder per source), plus every
  sibling folder holding models named in the layer scheme (`int_...`, `fct_...`): a folder
  missing from `model-paths` must still be read, or LL304 could never report it;
- `generator`: the Python script that writes `_catalog.json` files;
- `terraform`: the folder of the `.tf` files declaring `airbyte_connection` resources.

Two candidates for one key is an `AmbiguousLayout` (exit 2) that names them and the key to set;
none leaves the key at its default. Several candidates are first narrowed to those inside the dbt
project's folder (a copy of a tree under `tests/fixtures/` is not the platform), then to the one
named `streams` (`sources`); the folder the other key has is never a candidate (a stray file of
the other shape is a finding about that file).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

# Folders never part of a Lotus Lake layout (tool output, dependencies); hidden folders too.
SKIPPED = frozenset({
    "node_modules", "target", "dbt_packages", "logs", "__pycache__", "venv", "site-packages",
})
MAX_DEPTH = 8
MAX_ENTRIES = 200_000  # directory entries looked at, over the whole walk
MAX_READS = 300  # files opened to learn what they are, per key
MAX_READ_BYTES = 1_000_000
SUFFIXES = (".json", ".sql", ".py", ".tf")
PROJECT_FILE = "dbt_project.yml"
CATALOG_FILE = "_catalog.json"
# Folders of a dbt project that hold SQL that is not models: the project's own `*-paths` keys,
# else dbt's defaults.
OTHER_DBT_PATHS = {
    "macro-paths": ["macros"], "test-paths": ["tests"], "analysis-paths": ["analyses"],
    "snapshot-paths": ["snapshots"], "seed-paths": ["seeds"],
}
_WRITES_RE = re.compile(r"json\.dump\(|\.write_text\(|\.write\(|open\([^)]*['\"][wax]")


class AmbiguousLayout(Exception):
    """Two or more folders or files fit one layout key; the message is one line for stderr."""


@dataclass
class Detected:
    """Detected values by config key (`models` a tuple), and how each was found."""

    values: dict[str, Any] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)


@dataclass
class _Tree:
    """What the walk saw: folder -> (subfolders, files with a suffix of interest)."""

    folders: dict[str, tuple[list[str], list[str]]]
    truncated: bool
    reads: dict[str, int] = field(default_factory=dict)

    def files(self, folder: str) -> list[str]:
        return self.folders.get(folder, ([], []))[1]

    def subfolders(self, folder: str) -> list[str]:
        return self.folders.get(folder, ([], []))[0]

    def below(self, folder: str, depth: int) -> list[str]:
        """`folder` and the folders under it, `depth` levels down at most."""
        out, level = [folder], [folder]
        for _ in range(depth):
            level = [_join(f, d) for f in level for d in self.subfolders(f)]
            out.extend(level)
        return out

    def read(self, root: Path, path: str, purpose: str) -> str | None:
        """The text of a small file, or None (too large, unreadable, or past the read budget of
        `purpose`: each key has its own, so one cannot starve another)."""
        if self.reads.get(purpose, 0) >= MAX_READS:
            return None
        self.reads[purpose] = self.reads.get(purpose, 0) + 1
        try:
            # Non-blocking, and regular files only: a FIFO named `x.json` must not hang the run.
            fd = os.open(root / path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(MAX_READ_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > MAX_READ_BYTES:
            return None
        return data.decode("utf-8", errors="replace")


def detect(root: Path, keys: set[str], fixed: dict[str, Any], layers: tuple[str, ...],
           defaults: dict[str, Any]) -> Detected:
    """Values for the layout `keys` the config does not set; `fixed` holds the ones it does
    (config key -> value), used as anchors (a configured `dbt-project` gives the models);
    `defaults` what a key not found will be."""
    tree = _walk(root)
    found = Detected()

    def known(key: str) -> Any:
        return fixed.get(key, found.values.get(key))

    projects = sorted(_join(f, PROJECT_FILE) for f, (_d, files) in tree.folders.items()
                      if PROJECT_FILE in files)
    if "dbt-project" in keys:
        _choose(found, tree, "dbt-project", projects, "dbt project", None, "a dbt_project.yml")
    project = known("dbt-project")
    anchor = posixpath.dirname(project) if isinstance(project, str) else None

    streams, sources = _json_folders(root, tree) if keys & {"streams", "sources"} else ([], [])
    # One folder cannot be both: with a stray file of the other shape in it, it is the one it
    # already is (configured, detected or the default) for the other key.
    if "streams" in keys:
        other = fixed.get("sources")
        _choose(found, tree, "streams", [c for c in streams if c != other],
                "stream configs folder", anchor, "the folder of stream configs")
    if "sources" in keys:
        other = known("streams") or defaults.get("streams")
        _choose(found, tree, "sources", [c for c in sources if c != other],
                "source schemas folder", anchor, "the folder of source schemas")
    if "generator" in keys:
        _choose(found, tree, "generator", _generators(root, tree, anchor), "catalog generator",
                anchor, "the script that writes _catalog.json")
    if "terraform" in keys:
        _choose(found, tree, "terraform", _terraform_folders(root, tree),
                "Terraform folder", anchor, "the .tf files with airbyte_connection resources")
    if "models" in keys and isinstance(project, str) and (root / project).is_file():
        names = set()
        for key in ("streams", "sources"):
            folder = known(key)
            if isinstance(folder, str):
                names.update(tree.subfolders(folder))
        models = _model_folders(root, tree, project, names, layers)
        if models:
            found.values["models"] = tuple(models)
            found.how["models"] = f"detected: model-paths of {project}, and the folders " \
                                  "beside them holding models"
    return found


# ---- the walk ---------------------------------------------------------------------------------


def _walk(root: Path) -> _Tree:
    folders: dict[str, tuple[list[str], list[str]]] = {}
    entries = 0
    truncated = False
    level = ["."]
    for depth in range(MAX_DEPTH + 1):
        next_level: list[str] = []
        for folder in level:
            dirs: list[str] = []
            files: list[str] = []
            try:
                with os.scandir(root / folder) as it:
                    for entry in it:
                        entries += 1
                        name = entry.name
                        try:
                            # Links are not followed: a detected path stays inside the root.
                            if entry.is_dir(follow_symlinks=False):
                                if not name.startswith(".") and name not in SKIPPED:
                                    dirs.append(name)
                            elif name == PROJECT_FILE or name.endswith(SUFFIXES):
                                files.append(name)
                        except OSError:
                            continue
            except OSError:
                continue
            dirs.sort()
            files.sort()
            folders[folder] = (dirs, files)
            if depth < MAX_DEPTH:
                next_level.extend(_join(folder, d) for d in dirs)
            elif dirs:
                truncated = True
            if entries > MAX_ENTRIES:
                return _Tree(folders, truncated=True)
        level = next_level
        if not level:
            break
    return _Tree(folders, truncated)


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _inside(path: str, folder: str | None) -> bool:
    return folder is not None and (folder in (".", "") or path.startswith(folder + "/"))


# ---- choosing ---------------------------------------------------------------------------------


_TEST_FOLDERS = frozenset({"tests", "test", "fixtures", "testdata", "examples"})


def _choose(found: Detected, tree: _Tree, key: str, candidates: list[str], what: str,
            anchor: str | None, looked_for: str) -> None:
    if len(candidates) > 1 and anchor not in (None, ".", ""):
        inside = [c for c in candidates if _inside(c, anchor)]
        candidates = inside or candidates
    if len(candidates) > 1:
        # A copy under a tests or fixtures folder is test data, not the platform's layout.
        real = [c for c in candidates if not _TEST_FOLDERS & set(c.split("/"))]
        candidates = real or candidates
    if len(candidates) > 1:
        # The folder named as Lotus Lake names it (`streams`, `sources`), when only one is:
        # beside it, the other may just hold a stray file of that shape.
        named = [c for c in candidates if posixpath.basename(c) == key]
        candidates = named if len(named) == 1 else candidates
    if len(candidates) == 1:
        found.values[key] = candidates[0]
        found.how[key] = f"detected: {looked_for}"
    elif candidates:
        listed = ", ".join(candidates)
        raise AmbiguousLayout(
            f"found {len(candidates)} candidates for the {what}: {listed}; set `{key} = "
            f"\"...\"` to the right one in lotus-check.toml or [tool.lotus-check] in "
            "pyproject.toml"
        )
    elif tree.truncated:
        found.how[key] = f"default: the tree is too large to search for {looked_for} " \
                         f"(set `{key}`)"


# ---- stream configs and source schemas --------------------------------------------------------


def _json_folders(root: Path, tree: _Tree) -> tuple[list[str], list[str]]:
    """(stream configs folders, source schemas folders): parents of `<source>/` folders whose
    JSON files have that shape."""
    parents: dict[str, list[str]] = {}
    for folder, (_dirs, files) in tree.folders.items():
        if folder != "." and any(f.endswith(".json") for f in files):
            parents.setdefault(posixpath.dirname(folder) or ".", []).append(folder)
    streams, sources = [], []
    for parent, children in sorted(parents.items()):
        kind = _folder_kind(root, tree, children)
        if kind == "stream":
            streams.append(parent)
        elif kind == "schema":
            sources.append(parent)
    return streams, sources


def _folder_kind(root: Path, tree: _Tree, children: list[str]) -> str | None:
    """What the `<source>/` folders below one parent hold, judged on a few files."""
    votes = {"stream": 0, "schema": 0}
    for child in children:
        files = tree.files(child)
        if CATALOG_FILE in files:
            return "stream"
        for name in [f for f in files if f.endswith(".json") and not f.startswith("_")][:2]:
            text = tree.read(root, _join(child, name), "json")
            kind = _json_kind(text) if text is not None else None
            if kind is not None:
                votes[kind] += 1
        if sum(votes.values()) >= 3:
            break
    if votes["stream"] == votes["schema"]:
        return None
    return "stream" if votes["stream"] > votes["schema"] else "schema"


def _json_kind(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    # Both name their stream (a name that differs from the file's is a finding, not a reason to
    # miss the folder).
    if not isinstance(data, dict) or not isinstance(data.get("stream"), str):
        return None
    if "options" in data or "defaults" in data:
        return "schema"
    if any(k in data for k in ("sync_mode", "destination_sync_mode", "selected", "connector")):
        return "stream"
    return None


# ---- generator and Terraform ------------------------------------------------------------------


def _generators(root: Path, tree: _Tree, anchor: str | None) -> list[str]:
    """Python scripts that write `_catalog.json`, those named for catalogs first. A module that
    writes it but is not a script stands for the scripts beside it that import it (the
    generator is what the checks run). Files inside the dbt project's folder are read first
    (where every Lotus Lake layout keeps it); the rest only when none is found there."""
    scripts = [_join(f, n) for f, (_d, files) in tree.folders.items() for n in files
               if n.endswith(".py")]
    inside = [p for p in scripts if _inside(p, anchor)]
    for group in (inside, [p for p in scripts if p not in inside]):
        found: list[str] = []
        for path in sorted(group, key=lambda p: ("catalog" not in posixpath.basename(p), p)):
            text = tree.read(root, path, "generator")
            if text is None or CATALOG_FILE not in text or not _WRITES_RE.search(text):
                continue
            for script in [path] if _is_script(path, text) else _importers(root, tree, path):
                if script not in found:
                    found.append(script)
        named = [p for p in found if "catalog" in posixpath.basename(p)]
        if found:
            return named or found
    return []


def _is_script(path: str, text: str) -> bool:
    """Run as a program: a `__main__` block, or a name no `import` can spell."""
    return "__main__" in text or not posixpath.basename(path)[:-3].isidentifier()


def _importers(root: Path, tree: _Tree, module: str) -> list[str]:
    """The scripts beside `module` that import it; `module` itself when there are none."""
    folder = posixpath.dirname(module) or "."
    stem = posixpath.basename(module)[:-3]
    imports = re.compile(rf"^\s*(?:import|from)\s+{re.escape(stem)}\b", re.MULTILINE)
    out = []
    for name in tree.files(folder):
        path = _join(folder, name)
        if name.endswith(".py") and path != module:
            text = tree.read(root, path, "generator")
            if text is not None and imports.search(text) and _is_script(path, text):
                out.append(path)
    return out or [module]


def _terraform_folders(root: Path, tree: _Tree) -> list[str]:
    """Topmost folders holding a `.tf` file with an `airbyte_connection` resource."""
    folders: list[str] = []
    for folder, (_d, files) in sorted(tree.folders.items()):
        if any(_inside(folder, f) or folder == f for f in folders):
            continue  # below a folder already found: the Terraform folder is read recursively
        for name in files:
            if name.endswith(".tf"):
                text = tree.read(root, _join(folder, name), "terraform")
                if text is not None and re.search(r"resource\s+\"airbyte_connection\"", text):
                    folders.append(folder)
                    break
    return folders


# ---- models -----------------------------------------------------------------------------------


def _model_folders(root: Path, tree: _Tree, project: str, sources: set[str],
                   layers: tuple[str, ...]) -> list[str]:
    from lotus_checks.core.dbt_project import model_paths
    from lotus_checks.core.loaders import LoadError
    from lotus_checks.core.loaders import parse_yaml

    text = tree.read(root, project, "dbt")
    data = _path_keys(text) if text is not None else None
    if data is None and text is not None:
        try:
            data = parse_yaml(text).data
        except LoadError:
            return []  # the run reports the broken file (LL005); the default folders stay
    paths = model_paths(project, data)
    if paths is None or not isinstance(data, dict):
        return []
    project_dir = posixpath.dirname(project) or "."
    layer_re = re.compile(rf"^({'|'.join(map(re.escape, layers))})_.*\.sql$")
    folders: list[str] = []
    for listed in paths.folders:
        if listed not in tree.folders:
            continue
        for folder in _models_folders_of(tree, listed, project_dir, sources, layer_re):
            if folder not in folders:
                folders.append(folder)
    # A folder inside another listed one is read with it.
    folders = [f for f in folders if not any(_inside(f, o) for o in folders if o != f)]
    not_models = {posixpath.normpath(_join(project_dir, p))
                  for key, default in OTHER_DBT_PATHS.items()
                  for p in (_strings(data.get(key)) or default)}
    for folder in list(folders):
        parent = posixpath.dirname(folder) or "."
        if folder == project_dir or not (_inside(parent, project_dir) or parent == project_dir):
            continue
        for name in tree.subfolders(parent):
            sibling = _join(parent, name)
            if (sibling in folders or sibling in not_models
                    or any(_inside(sibling, f) or _inside(f, sibling) for f in folders)):
                continue
            if _holds(tree, sibling, layer_re):
                folders.append(sibling)
    return folders


def _models_folders_of(tree: _Tree, listed: str, project_dir: str, sources: set[str],
                       layer_re: re.Pattern[str]) -> list[str]:
    """The folder(s) a `model-paths` entry stands for. A per-source folder (`.../shopify`
    holding `int_shopify__*.sql`) stands for its parent, which holds one folder per source;
    `models` holding `staging/<source>/` and `marts/` stands for those two."""
    name = posixpath.basename(listed)
    parent = posixpath.dirname(listed) or "."
    if parent != project_dir and _inside(listed, project_dir) and (
        name in sources
        or any(re.match(rf"^[a-z0-9]+_{re.escape(name)}__.*\.sql$", n) for n in tree.files(listed))
    ):
        return [parent]
    children = tree.subfolders(listed)
    if any(c in sources for c in children) or any(layer_re.match(n) for n in tree.files(listed)):
        return [listed]
    grouping = [_join(listed, c) for c in children
                if any(g in sources for g in tree.subfolders(_join(listed, c)))]
    if grouping:  # the folders of sources first: a new source's models go in the first one
        holding = [_join(listed, c) for c in children if _holds(tree, _join(listed, c), layer_re)]
        return grouping + [f for f in holding if f not in grouping]
    return [listed]


def _holds(tree: _Tree, folder: str, layer_re: re.Pattern[str]) -> bool:
    """Whether `folder` holds, at most three levels down, a model named in the layer scheme."""
    return any(layer_re.match(n) for f in tree.below(folder, 3) for n in tree.files(f))


_PATH_KEYS = ("model-paths", "source-paths", *OTHER_DBT_PATHS)
_TOP_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_ITEM_RE = re.compile(r"^[ \t]*-[ \t]+(.*?)[ \t]*$")
_PLAIN_RE = re.compile(r"^(?:\"([^\"\\]*)\"|'([^']*)'|([^\s\"'&*!|>{}\[\],#%@`][^#]*?))$")


def _path_keys(text: str) -> dict[str, Any] | None:
    """The `*-paths` keys of a dbt_project.yml written the usual way (top-level keys, lists of
    plain or quoted strings, in block or flow style), without importing PyYAML: a run whose
    checks are all replayed never needs it. None when the file says more than that about those
    keys (anchors, tags, nesting, a key twice): then PyYAML reads it."""
    out: dict[str, Any] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(("---", "...", "%")):
            return None
        match = _TOP_KEY_RE.match(line)
        if match is None or match.group(1) not in _PATH_KEYS:
            continue
        key, value = match.group(1), _strip_comment(match.group(2) or "")
        if key in out:
            return None
        if value.startswith("[") and value.endswith("]"):
            items = [i.strip() for i in value[1:-1].split(",")] if value[1:-1].strip() else []
        elif value:
            return None  # a string, null, or something PyYAML should judge
        else:
            items = []
            for follow in lines[index + 1:]:
                stripped = follow.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                item = _ITEM_RE.match(follow)
                if item is None:
                    if follow[:1] in (" ", "\t"):
                        return None  # indented, not a list item: a mapping or a block scalar
                    break
                items.append(_strip_comment(item.group(1)))
        scalars = [_PLAIN_RE.match(i) for i in items]
        if not all(scalars) or any(": " in i or i.endswith(":") or i[:2] in ("- ", "? ")
                                   for i in items):
            return None
        out[key] = [next(g for g in m.groups() if g is not None).strip() for m in scalars if m]
    return out


def _strip_comment(value: str) -> str:
    return re.sub(r"(^|[ \t])#.*$", "", value).strip()


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
