"""Replaying the whole previous result when nothing changed: the warm run.

After a whole-repo run (no targets, no --fix, no --dbt) the engine stores the run's findings
(after selection, noqa and severity) under a key of the configuration (`environment_key`: every
config field, the environment variables the generator gets, lotus-check's version and code, the
parsers' versions), next to a digest of the tree (`tree_digest`). A later run with the same
configuration computes the tree digest; when it matches, the stored findings are the result and
no check runs (no parsing: a warm run imports neither sqlglot, jsonschema, PyYAML nor hcl2).

The tree digest covers every file that can influence a finding: every file outside the folders
the walk does not enter (hidden ones, the folders dbt and tools create, the cache) by content (a
file over max-file-size by size and modification time), every name in the tree with its kind
(the names of the pruned folders too: the hygiene rules report a `.terraform/` folder), and
every link's target. A link to a folder the walk does not enter (outside the root, or in a
hidden or generated folder) turns replay off for that tree: the digest would not see what the
repo model reads through it.

A result that depends on more than the files (a model over its CPU budget, a generator that
failed, timed out or changed the tree, a hint taken from `git status`: `Repo.machine_dependent`)
is never stored, nor is one when a file hashed for the digest was written while the run read
the tree (its findings may be those of neither version). One entry per configuration, written atomically through the cache; a missing,
corrupt or oversized entry is no entry.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import Any

from lotus_checks.core.config import Config
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.incremental.cache import Cache
from lotus_checks.repo.model import PRUNED_FOLDERS
from lotus_checks.repo.model import Repo

STORE_VERSION = 4
NAMESPACE = "result"
# Packages whose behaviour decides findings; an upgrade of any invalidates the stored result.
PARSER_PACKAGES = ("sqlglot", "jsonschema", "referencing", "hcl2", "lark", "yaml", "jinja2")
# A result with more findings than this is not stored (its entry would be large to read back).
MAX_STORED_FINDINGS = 200_000


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def tree_digest(repo: Repo, statuses: list[tuple[str, tuple[int, ...]]] | None = None) -> str:
    """A digest of every name in the tree (`Repo.tree`) with its kind, every link's target, and
    the content of every file the walk reaches (see the module docstring). The status of each
    file hashed is added to `statuses` (see `changed_since`). The repo model keeps the bytes
    read (`Repo.keep_bytes`): the run reads each file once."""
    digest = hashlib.blake2b(digest_size=16)
    root = str(repo.root)
    limit = repo.config.max_file_size
    for entry in repo.tree:
        full = os.path.join(root, entry.path)
        if entry.error is not None:
            part = f"!{entry.error}"
        elif entry.is_link:
            try:
                target = os.readlink(full)
            except OSError as exc:
                target = f"!{exc.errno}"
            part = f"l\0{target}\0" + ("d" if entry.is_dir else _content(full, limit)[0])
        elif entry.is_dir:
            part = "d"
        else:
            part, data = _content(full, limit)
            if data is not None:
                # Not a link, in folders the walk entered (no links): the very file the repo
                # model would open at this path, so its loads take these bytes.
                repo.keep_bytes(entry.path, data)
        if statuses is not None and not entry.is_dir:
            statuses.append((full, _status(full)))
        digest.update(f"{entry.path}\0{part}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def links_beyond_the_walk(repo: Repo) -> bool:
    """Whether a link in the tree leads to a folder the walk does not enter: outside the root,
    or in a hidden or generated folder. The repo model reads through such a link (a source's
    stream configs may live there) but the digest sees only the link, so a result found
    through it is never stored nor replayed."""
    root = os.path.realpath(repo.root)
    for entry in repo.tree:
        if not (entry.is_link and entry.is_dir) or _pruned(entry.path.split("/")):
            continue  # a link named like a folder the walk skips (a `.venv`): nothing reads it
        real = os.path.realpath(os.path.join(root, entry.path))
        inside = os.path.relpath(real, root)
        if inside == os.pardir or inside.startswith(os.pardir + os.sep):
            return True
        if _pruned(inside.split(os.sep)):
            return True
    return False


def _pruned(parts: list[str]) -> bool:
    return any(part.startswith(".") or part in PRUNED_FOLDERS for part in parts)


def _status(full: str) -> tuple[int, ...]:
    """What changes when a file is written, renamed over or replaced."""
    try:
        info = os.lstat(full)
    except OSError as exc:
        return (-1, exc.errno or 0)
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def changed_since(statuses: list[tuple[str, tuple[int, ...]]]) -> bool:
    """Whether a file hashed by `tree_digest` was written since (a file saved while the run
    ran): the run's findings then are not those of the tree the digest describes."""
    return any(_status(full) != status for full, status in statuses)


def _content(full: str, limit: int) -> tuple[str, bytes | None]:
    """A file's content digest; its size and modification time when it is over `limit`; its
    kind when it is not a regular file (a FIFO is never opened); the error reading it gives.
    With it, the bytes read when they are the whole file within `limit`, else None."""
    try:
        descriptor = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                             | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        return f"!{exc.errno}", None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return f"k{stat.S_IFMT(info.st_mode)}", None
        if info.st_size > limit:
            return f"s{info.st_size}:{info.st_mtime_ns}", None
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # A file that grew past the limit while read: the repo model reads it for itself.
        return file_digest(data), data if len(data) <= limit else None
    except OSError as exc:
        return f"!{exc.errno}", None
    finally:
        os.close(descriptor)


def environment_key(config: Config, use_dbt: bool) -> str:
    """The config, `--dbt`, the generator's environment and the installed code: the key of the
    stored result of one configuration.

    The code counts by content, never by modification time: CI installs lotus-check afresh in
    every job (new times, same bytes), and a key that changed with them would never let a
    restored store replay anything."""
    import importlib.util

    from lotus_checks import __version__

    parts = [str(STORE_VERSION), __version__, sys.version, repr(config), repr(use_dbt),
             package_digest(Path(__file__).resolve().parents[1])]
    # The generator sees these variables (generator-env): its catalogs may depend on them.
    for name in config.generator_env:
        value = os.environ.get(name)
        parts.append(f"env\0{name}\0" + ("unset" if value is None else file_digest(
            value.encode("utf-8", "surrogateescape"))))
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


class ResultStore:
    """The stored result of one configuration (see the module docstring)."""

    def __init__(self, cache: Cache, key: str, tree: str,
                 statuses: list[tuple[str, tuple[int, ...]]] | None = None):
        self.cache = cache
        self.key = key
        self.tree = tree
        self.statuses = statuses or []

    @classmethod
    def open(cls, cache: Cache, config: Config, repo: Repo) -> ResultStore | None:
        """The store of this configuration, or None when the cache is off or the tree links to
        folders the digest does not cover."""
        if cache.folder is None or links_beyond_the_walk(repo):
            return None
        statuses: list[tuple[str, tuple[int, ...]]] = []
        tree = tree_digest(repo, statuses)
        return cls(cache, environment_key(config, use_dbt=False), tree, statuses)

    def replay(self) -> list[Finding] | None:
        """The stored findings if they were found on this very tree, else None."""
        data = self.cache.get(NAMESPACE, self.key)
        if not isinstance(data, dict) or data.get("version") != STORE_VERSION \
                or data.get("tree") != self.tree or not isinstance(data.get("findings"), list):
            return None
        try:
            return [_finding(row) for row in data["findings"]]
        except (TypeError, ValueError):
            return None

    def save(self, findings: list[Finding]) -> None:
        """Store the findings of a whole-repo run on this tree (atomically, via the cache), unless
        a file changed while the run read the tree: they may be those of neither version."""
        if len(findings) > MAX_STORED_FINDINGS or changed_since(self.statuses):
            return
        self.cache.put(NAMESPACE, self.key, {
            "version": STORE_VERSION, "tree": self.tree, "findings": [_row(f) for f in findings]})


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
        raise ValueError("malformed finding in the result store")
    return Finding(path, line, column, code, message, Severity(severity), hint)
