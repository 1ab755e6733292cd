"""Replaying a family's findings when nothing it looked at has changed: the warm run.

A family's findings are a function of the files it read, the files it probed for, the folder
listings it walked, the config and the installed code. After a whole-repo run the engine records,
per family, the content digest of every file it read or probed (the repo model tracks them, see
`Repo.start_tracking`) next to its findings. The next run lists the tree and replays the
findings of every family whose inputs are byte-for-byte the same; only the others run. A file
whose status (size, mtime, ctime, inode) is the one recorded with its digest is not even read
(see `Repo.stable_status` for when a status is trusted); others are read and hashed. No parsing:
a warm run imports neither sqlglot, jsonschema, PyYAML nor hcl2.

A family may depend on a value derived from files instead of the files (`Repo.derived`): the
coverage family on a model's tags and source() calls. When what the value was computed from
changed, the value is worked out again and compared ("early cutoff"). Other per-file work the
engine keeps (the `noqa` comments) is a unit of the store like a family.

What invalidates an entry, and how:
- any file the family read or probed, changed, added or removed: its digest (content, or the
  load error the repo model would report);
- any file or folder added, removed or renamed anywhere in the walked tree, or a link retargeted:
  the tree listing digest (folder walks are not tracked one by one; this covers them all);
- the config (every field, the root included) and `--dbt`: part of the store's file name;
- lotus-check's own code (the content of each file) and the parsers it uses (their versions and
  the content of their top module): likewise.

Findings that depend on the machine rather than the files (a time budget ran out, the generator
timed out; `Repo.mark_transient`) are never recorded. The store is one JSON file per configuration, written atomically
at the end of a whole-repo run; a missing or corrupt store is an empty one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Protocol

from lotus_checks.cache import Cache
from lotus_checks.config import Config
from lotus_checks.finding import Finding
from lotus_checks.finding import Severity
from lotus_checks.repo import TRANSIENT

STORE_VERSION = 3
NAMESPACE = "replay"
# Codes whose findings may not come out the same next time from the same files: the generator
# can time out or fail (LL204) or change the tree (LL210) for reasons of its own. A family
# reporting one is run again next time.
# (LL008 is not here: over-size is a property of the file; a model over its CPU budget marks its
# users transient itself, Repo.mark_transient.)
TRANSIENT_CODES = frozenset({"LL204", "LL210"})
# Packages whose behaviour decides findings; an upgrade of any invalidates every entry.
PARSER_PACKAGES = ("sqlglot", "jsonschema", "referencing", "hcl2", "lark", "yaml", "jinja2")
# Folders never walked for the listing (as in the hygiene walk and the repo model).
_PRUNED = frozenset({"target", "dbt_packages", "logs", "node_modules", "__pycache__", "venv"})
# Bound on the store file: past this it is treated as missing (and rewritten).
MAX_STORE_BYTES = 200_000_000


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def value_digest(value: Any) -> str:
    """The digest of a JSON value (a derived value, see Repo.derived)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return file_digest(text.encode("utf-8", "surrogatepass"))


def tree_listing_digest(root: Path, cache_dir: str) -> str:
    """A digest of every name in the tree, with its kind (and a link's target).

    Hidden folders and generated ones are named but not entered (their names still count: the
    hygiene rules report a `.terraform/` folder)."""
    digest = hashlib.blake2b(digest_size=16)
    skip_top = cache_dir.split("/", 1)[0]
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            digest.update(f"{prefix}\0!{exc.errno}\n".encode("utf-8", "surrogateescape"))
            continue
        for entry in entries:
            if not prefix and entry.name == skip_top:
                continue  # the cache itself: created by the first run, written by every run
            rel = prefix + entry.name
            kind = _kind(entry)
            line = f"{rel}\0{kind}\n"
            if kind == "l":
                try:
                    line = f"{rel}\0l\0{os.readlink(entry.path)}\n"
                except OSError:
                    pass
            digest.update(line.encode("utf-8", "surrogateescape"))
            if kind == "d" and not _pruned(entry.name):
                stack.append((entry.path, rel + "/"))
    return digest.hexdigest()


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_symlink():
            return "l"
        if entry.is_dir():
            return "d"
        return "f" if entry.is_file() else "o"
    except OSError:
        return "?"


def _pruned(name: str) -> bool:
    return name.startswith(".") or name in _PRUNED


def environment_key(config: Config, use_dbt: bool) -> str:
    """The config, `--dbt`, and the installed code: what every entry of one store shares.

    The code counts by content, never by modification time: CI installs lotus-check afresh in
    every job (new times, same bytes), and a key that changed with them would never let a
    restored store replay anything."""
    import importlib.util

    from lotus_checks import __version__

    parts = [str(STORE_VERSION), __version__, sys.version, repr(config), repr(use_dbt),
             package_digest(Path(__file__).resolve().parent)]
    sites: set[Path] = set()
    for name in PARSER_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        if spec is None or not origin or not os.path.isfile(origin):
            parts.append(f"{name}\0absent")
            continue
        parts.append(f"{name}\0{_content_digest(Path(origin))}")
        # A package's folder, or a module's, sits in the folder its distribution's metadata does.
        module = Path(origin)
        sites.add(module.parent.parent if spec.submodule_search_locations else module.parent)
    for site in sorted(sites):
        parts.append(f"{site.name}\0{installed_distributions(site)}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def package_digest(package: Path) -> str:
    """A digest of the names and contents of a package's .py and .json files."""
    digest = hashlib.blake2b(digest_size=16)
    start = len(str(package)) + 1
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".json")):
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    data = None
                size = "missing" if data is None else str(len(data))
                head = f"{path[start:]}\0{size}\0"  # the length keeps file boundaries unambiguous
                digest.update(head.encode("utf-8", "surrogateescape") + (data or b""))
    return digest.hexdigest()


def installed_distributions(site: Path) -> str:
    """The distributions installed in a site-packages folder, by name and version (the names of
    their metadata folders): an upgrade of a parser changes it, a reinstall of the same does not."""
    try:
        names = sorted(entry.name for entry in os.scandir(site)
                       if entry.name.endswith((".dist-info", ".egg-info")))
    except OSError:
        return "unlisted"
    return ",".join(names)


def _content_digest(path: Path) -> str:
    try:
        return file_digest(path.read_bytes())
    except OSError:
        return "missing"


class Inputs(Protocol):
    """What the store asks of the repo model (repo.py) about a dependency now."""

    def digest(self, key: str) -> str: ...

    def unchanged_since(self, path: str, status: list[int]) -> bool: ...

    def stable_status(self, path: str) -> list[int] | None: ...

    def derived_inputs(self, key: str) -> dict[str, str] | None: ...


@dataclass
class ReplayStore:
    """The recorded units of one configuration, and what this run adds to them.

    A unit is a family (its value: the findings) or another piece of per-file work the engine
    keeps (the `noqa` comments); its value is any JSON."""

    cache: Cache
    key: str
    listing: str
    _units: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Digests as the store recorded them: what replays compare against. Never updated during a
    # run: a unit that ran and saw a file change must not make another unit's stale entry look
    # current.
    _recorded: dict[str, str] = field(default_factory=dict)
    # File status (size, mtime, ctime, inode, device) when the digest was taken, for files that
    # had not changed for a while then: the same status now means the same bytes, unread.
    _recorded_status: dict[str, list[int]] = field(default_factory=dict)
    # Derived values ("=name:arg", see Repo.derived) -> the keys they were computed from.
    _recorded_derived: dict[str, list[str]] = field(default_factory=dict)
    # Digests to save: the recorded ones, updated by the units that ran.
    _digests: dict[str, str] = field(default_factory=dict)
    _changed: bool = False
    # key -> whether it is unchanged since recorded, judged once per run (see _unchanged).
    _verdicts: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def open(cls, cache: Cache, config: Config, use_dbt: bool) -> ReplayStore | None:
        """The store for this configuration, or None when the cache is off."""
        if cache.folder is None:
            return None
        store = cls(cache, environment_key(config, use_dbt),
                    tree_listing_digest(config.root, config.cache_dir))
        data = cache.get(NAMESPACE, store.key)
        if _well_formed(data) and data["listing"] == store.listing:
            paths = data["paths"]
            store._recorded = dict(zip(paths, data["digests"]))
            store._recorded_status = {
                path: status for path, status in zip(paths, data["status"])
                if _status_well_formed(status)
            }
            store._digests = dict(store._recorded)
            store._recorded_derived = {
                key: [paths[i] for i in inner] for key, inner in data["derived"].items()
            }
            store._units = {
                name: {"deps": [paths[i] for i in entry["deps"]], "value": entry["value"]}
                for name, entry in data["units"].items()
            }
        return store

    def replay(self, family: str, inputs: Inputs) -> list[Finding] | None:
        """The recorded findings of `family` if every input it had is unchanged, else None."""
        rows = self.replay_value(family, inputs)
        if not isinstance(rows, list):
            return None
        try:
            return [_finding(row) for row in rows]
        except (TypeError, ValueError):
            return None

    def replay_value(self, unit: str, inputs: Inputs) -> Any | None:
        """The recorded value of `unit` if every input it had is unchanged, else None."""
        entry = self._units.get(unit)
        if entry is None:
            return None
        for dep in entry["deps"]:
            inner = self._recorded_derived.get(dep)
            if inner is not None and all(self._unchanged(d, inputs) for d in inner):
                continue  # computed from the same inputs: the same value, not worked out again
            if not self._unchanged(dep, inputs):
                return None
        return entry["value"]

    def _unchanged(self, key: str, inputs: Inputs) -> bool:
        verdict = self._verdicts.get(key)
        if verdict is None:  # units share most inputs: each is judged once per run
            status = self._recorded_status.get(key)
            # Same status as when its digest was taken: the same bytes, not read again.
            verdict = (status is not None and inputs.unchanged_since(key, status)) \
                or inputs.digest(key) == self._recorded.get(key)
            self._verdicts[key] = verdict
        return verdict

    def record(self, family: str, deps: dict[str, str], findings: list[Finding]) -> None:
        """Remember a family that just ran over the whole repo (unless a finding is transient)."""
        if any(f.code in TRANSIENT_CODES for f in findings):
            self._changed = True
            self._units.pop(family, None)
            return
        self.record_value(family, deps, [_row(f) for f in findings])

    def record_value(self, unit: str, deps: dict[str, str], value: Any) -> None:
        """Remember a unit that just ran over the whole repo (unless it depends on the machine)."""
        self._changed = True
        if TRANSIENT in deps:
            self._units.pop(unit, None)
            return
        self._digests.update(deps)
        self._units[unit] = {"deps": sorted(deps), "value": value}

    def save(self, inputs: Inputs) -> None:
        """Write the store if anything was recorded this run (atomically, via the cache)."""
        if not self._changed:
            return
        derived: dict[str, list[str]] = {}
        for entry in self._units.values():
            for dep in entry["deps"]:
                if dep.startswith("=") and dep not in derived:
                    fresh = inputs.derived_inputs(dep)  # computed this run: what it read now
                    if fresh is not None:
                        self._digests.update(fresh)
                    inner = sorted(fresh) if fresh is not None else self._recorded_derived.get(dep)
                    if inner is not None:
                        derived[dep] = inner
        used = sorted({dep for entry in self._units.values() for dep in entry["deps"]}
                      | {dep for inner in derived.values() for dep in inner})
        index = {path: i for i, path in enumerate(used)}
        status = []
        for path in used:
            fresh = inputs.stable_status(path)  # read this run: its status then
            status.append(fresh if fresh is not None else self._recorded_status.get(path))
        self.cache.put(NAMESPACE, self.key, {
            "version": STORE_VERSION,
            "listing": self.listing,
            "paths": used,
            "digests": [self._digests[path] for path in used],
            "status": status,
            "derived": {key: [index[d] for d in inner] for key, inner in sorted(derived.items())},
            "units": {
                name: {"deps": [index[d] for d in entry["deps"]], "value": entry["value"]}
                for name, entry in sorted(self._units.items())
            },
        })


def _status_well_formed(status: Any) -> bool:
    return (isinstance(status, list) and len(status) == 5
            and all(isinstance(n, int) and not isinstance(n, bool) for n in status))


def _row(finding: Finding) -> list[Any]:
    return [finding.path, finding.line, finding.column, finding.code, finding.message,
            finding.severity.value, finding.hint]


def _finding(row: list[Any]) -> Finding:
    """The finding a row stores; ValueError for anything a run could not have written."""
    path, line, column, code, message, severity, hint = row
    texts_ok = all(isinstance(t, str) for t in (path, code, message, hint))
    numbers_ok = all(n is None or (isinstance(n, int) and not isinstance(n, bool))
                     for n in (line, column))
    if not (texts_ok and numbers_ok):
        raise ValueError("malformed finding in the replay store")
    return Finding(path, line, column, code, message, Severity(severity), hint)


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
        return False
    paths, digests, units = data.get("paths"), data.get("digests"), data.get("units")
    status = data.get("status")
    if not (isinstance(paths, list) and isinstance(digests, list) and len(paths) == len(digests)
            and isinstance(status, list) and len(status) == len(paths)
            and isinstance(units, dict) and isinstance(data.get("listing"), str)):
        return False
    if not all(isinstance(p, str) for p in paths) or not all(isinstance(d, str) for d in digests):
        return False
    derived = data.get("derived")
    if not isinstance(derived, dict) or not all(
            isinstance(inner, list) and all(isinstance(i, int) and 0 <= i < len(paths)
                                            for i in inner)
            for inner in derived.values()):
        return False
    for entry in units.values():
        if not (isinstance(entry, dict) and isinstance(entry.get("deps"), list)
                and "value" in entry):
            return False
        if not all(isinstance(i, int) and 0 <= i < len(paths) for i in entry["deps"]):
            return False
    return True
