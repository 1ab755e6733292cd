"""The repo model: which streams, schemas, catalogs, models and sources files exist (from config),
and each file loaded once, lazily, with load failures kept as LL0xx findings."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from typing import Callable
from typing import TypeVar

from lotus_checks.config import Config
from lotus_checks.finding import Finding
from lotus_checks.loaders import JsonDoc
from lotus_checks.loaders import LoadError
from lotus_checks.loaders import YamlDoc
from lotus_checks.loaders import parse_json
from lotus_checks.loaders import decode_text
from lotus_checks.loaders import parse_yaml
from lotus_checks.loaders import read_bytes_and_stat

T = TypeVar("T")

CATALOG_NAME = "_catalog.json"
# Folders dbt and tools create inside a project; never part of the checked tree.
SKIPPED_FOLDERS = frozenset({"target", "dbt_packages", "logs", "node_modules", "__pycache__"})
# A file unchanged this long before it is read has a status a later change cannot repeat
# (timestamps are coarser than nanoseconds on most file systems; git's "racily clean" problem).
STABLE_AFTER_NS = 2_000_000_000
# The dependency key of a result that depends on the machine (see Repo.mark_transient).
TRANSIENT = "!transient"


@dataclass(frozen=True)
class Stream:
    """A stream config file, `<streams>/<source>/<name>.json`."""

    source: str
    name: str
    config_path: str
    schema_path: str | None


@dataclass(frozen=True)
class SourceSchema:
    """A source schema file, `<sources>/<source>/<name>.json` (what discovery offers)."""

    source: str
    name: str
    path: str


@dataclass(frozen=True)
class Model:
    """A dbt model file under one of the configured model folders.

    `source` is set when the model sits in a folder named like a source (`core/shopify/...`);
    otherwise `area` names its subject-area folder (marts), or is "" at a model folder's top.
    """

    path: str
    name: str
    models_folder: str
    source: str | None
    area: str


class Repo:
    def __init__(self, config: Config):
        self.config = config
        self.root = config.root
        self._docs: dict[str, object] = {}
        self._errors: dict[str, Finding] = {}
        self._real_root = os.path.realpath(self.root)
        self._real_folders: dict[str, str] = {}
        # Content digests of files, for the replay store
        # (replay.py); bytes read for a digest are kept until the file is loaded, so no file is
        # read twice.
        self._digests: dict[str, str] = {}
        self._unloaded: dict[str, bytes] = {}
        self._stable: dict[str, list[int]] = {}  # see stable_status
        self._status_now: dict[str, list[int] | None] = {}  # see unchanged_since
        # "=name:arg" -> (value, keys it read, digest of the value); see `derived`.
        self._derived: dict[str, tuple[Any, frozenset[str], str]] = {}
        # name -> compute(arg) for derived values (the engine fills it from the families).
        self.derivations: dict[str, Callable[[str], Any]] = {}
        # Paths the running family read, and probes ("?f:path", "?d:path") it made; None when
        # nobody tracks.
        self._touched: set[str] | None = None

    # ---- inventory -------------------------------------------------------------------------

    @cached_property
    def stream_sources(self) -> list[str]:
        """Source folders under the streams folder."""
        return _subfolders(self.root / self.config.streams, self._unreadable)

    @cached_property
    def schema_sources(self) -> list[str]:
        return _subfolders(self.root / self.config.sources, self._unreadable)

    @cached_property
    def sources(self) -> list[str]:
        """Every source name the repo knows: folders under streams or sources."""
        return sorted(set(self.stream_sources) | set(self.schema_sources))

    @cached_property
    def streams(self) -> list[Stream]:
        out = []
        for source in self.stream_sources:
            folder = f"{self.config.streams}/{source}"
            for name in _files(self.root / folder, ".json", self._unreadable):
                if name.startswith("_"):
                    continue
                stem = name[: -len(".json")]
                schema = f"{self.config.sources}/{source}/{name}"
                out.append(
                    Stream(
                        source=source,
                        name=stem,
                        config_path=f"{folder}/{name}",
                        schema_path=schema if os.path.isfile(self.root / schema) else None,
                    )
                )
        return out

    @cached_property
    def source_schemas(self) -> list[SourceSchema]:
        out = []
        for source in self.schema_sources:
            folder = f"{self.config.sources}/{source}"
            for name in _files(self.root / folder, ".json", self._unreadable):
                if not name.startswith("_"):
                    out.append(SourceSchema(source, name[: -len(".json")], f"{folder}/{name}"))
        return out

    @cached_property
    def catalogs(self) -> dict[str, str]:
        """source -> path of its committed `_catalog.json` (whatever is there: a folder or a
        dangling link at that path is an LL001 of the input checks)."""
        out = {}
        for source in self.stream_sources:
            path = f"{self.config.streams}/{source}/{CATALOG_NAME}"
            if os.path.lexists(self.root / path):
                out[source] = path
        return out

    def streams_of(self, source: str) -> list[Stream]:
        return [s for s in self.streams if s.source == source]

    def stream(self, source: str, name: str) -> Stream | None:
        return self._stream_index.get((source, name))

    @cached_property
    def _stream_index(self) -> dict[tuple[str, str], Stream]:
        return {(s.source, s.name): s for s in self.streams}

    @cached_property
    def models(self) -> list[Model]:
        known = set(self.sources)
        out = []
        for folder in self.config.models:
            base = self.root / folder
            for rel in _walk(base, (".sql",), self._unreadable):
                parts = rel.split("/")
                first = parts[0] if len(parts) > 1 else ""
                out.append(
                    Model(
                        path=f"{folder}/{rel}",
                        name=parts[-1][: -len(".sql")],
                        models_folder=folder,
                        source=first if first in known else None,
                        area="" if first in known else first,
                    )
                )
        return out

    @cached_property
    def model_yaml_files(self) -> list[str]:
        """YAML files in the model folders (sources files, schema files)."""
        out = []
        for folder in self.config.models:
            out.extend(f"{folder}/{rel}"
                       for rel in _walk(self.root / folder, (".yml", ".yaml"), self._unreadable))
        return out

    @cached_property
    def terraform_files(self) -> list[str]:
        """`.tf` files in the Terraform folder and below."""
        folder = self.config.terraform
        return [f"{folder}/{rel}" for rel in _walk(self.root / folder, (".tf",), self._unreadable)]

    @cached_property
    def project_python_files(self) -> list[str]:
        """`.py` files in the dbt project's folder and below (the Dagster code beside the
        models); virtualenvs are skipped. Listed only when a check asks (not in the inventory:
        nothing is reported on them)."""
        folder = os.path.dirname(self.config.dbt_project)
        prefix = f"{folder}/" if folder else ""
        return [
            prefix + rel
            # not an input: a folder that cannot be listed is not worth a finding here
            for rel in _walk(self.root / folder, (".py",), lambda _folder, _error: None)
            if not {"venv", "site-packages"} & set(rel.split("/")[:-1])
        ]

    def inventory(self) -> list[str]:
        """Every input file the checks look at."""
        files = [s.config_path for s in self.streams]
        files += [s.path for s in self.source_schemas]
        files += list(self.catalogs.values())
        files += [m.path for m in self.models]
        files += self.model_yaml_files
        files += self.terraform_files
        # Anything but a folder: a FIFO or a dangling link in its place is LL001 when loaded.
        project = self.root / self.config.dbt_project
        if os.path.lexists(project) and not os.path.isdir(project):
            files.append(self.config.dbt_project)
        return files

    def _unreadable(self, folder: str, error: OSError) -> None:
        """A folder of the layout that cannot be listed (no permission): LL001 on the folder,
        since none of its files can be checked. A folder that does not exist is no error."""
        if isinstance(error, (FileNotFoundError, NotADirectoryError)):
            return
        rel = self.config.rel(Path(folder))
        message = f"cannot read folder: {error.strerror or error}; nothing in it was checked"
        self._errors.setdefault(rel, _load_finding(rel, LoadError("LL001", message)))

    # ---- what a family looked at (replay.py) ------------------------------------------------
    #
    # Keys of what a family depends on: "path" (a file's content), "?f:path" / "?d:path" (whether
    # it is a file / folder), "=name:arg" (a value derived from files, by its content: see
    # `derived`), and TRANSIENT (the result depends on the machine: never recorded).

    def start_tracking(self) -> None:
        self._touched = set()

    def stop_tracking(self) -> dict[str, str]:
        """Digest of every key looked at since `start_tracking`."""
        touched, self._touched = self._touched or set(), None
        return {key: self.digest(key) for key in touched}

    def mark_transient(self) -> None:
        """What is being computed depends on more than the files: the machine (a time budget
        ran out) or git's state (a hint from `git status`). It is never replayed."""
        if self._touched is not None:
            self._touched.add(TRANSIENT)

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per run, depended on by its value rather than by what it read.

        `key` is "=name:arg". A family using the value depends on the key; the store keeps what
        `compute` read, and when that changed, works the value out again (with the function a
        family registered in `derivations`) and compares it: a model edit that leaves its tags
        alone does not make the coverage family run again ("early cutoff")."""
        hit = self._derived.get(key)
        if hit is None:
            from lotus_checks.replay import value_digest

            value, inner = self._reading(compute)
            hit = self._derived[key] = (value, inner, value_digest(value))
        if self._touched is not None:
            self._touched.add(key)
            if TRANSIENT in hit[1]:
                self._touched.add(TRANSIENT)
        return hit[0]  # type: ignore[no-any-return]

    def derived_inputs(self, key: str) -> dict[str, str] | None:
        """What the derived value `key` was computed from this run (None: not computed)."""
        hit = self._derived.get(key)
        if hit is None:
            return None
        return {dep: self.digest(dep) for dep in hit[1]}

    def touched_errors(self, deps: dict[str, str]) -> list[Finding]:
        """Load findings of the files among `deps` (they belong to the family that read them)."""
        return [self._errors[path] for path in sorted(deps) if path in self._errors]

    def shared(self, memo: dict[str, Any], key: str, compute: Callable[[], T]) -> T:
        """`compute()`, once per run: work shared between families through `memo`.

        What it read is tracked for every family that uses the result, not only the first:
        otherwise a family taking it from the memo would not depend on those files, and would
        be replayed after they changed."""
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = self._reading(compute)
        if self._touched is not None:
            self._touched |= hit[1]
        return hit[0]  # type: ignore[no-any-return]

    def _reading(self, compute: Callable[[], T]) -> tuple[T, frozenset[str]]:
        """`compute()`, and the keys it looked at (tracked apart from the caller's)."""
        outer, self._touched = self._touched, set()
        try:
            value = compute()
        finally:
            inner, self._touched = self._touched, outer
        return value, frozenset(inner)

    def raw_bytes(self, path: str) -> bytes:
        """The bytes of `path` its digest is taken of and its text decoded from, read once: what
        the generator's copy is made of (generator.py). Asked after the text was loaded, the file
        is read again (only the text is kept). Not tracked: the caller notes the read. Raises
        LoadError as loading does."""
        data = self._unloaded.get(path)
        if data is None:
            data = self._read_bytes(path)
            if path not in self._digests:
                from lotus_checks.replay import file_digest

                self._digests[path] = file_digest(data)
                self._unloaded[path] = data  # the text, when loaded, comes from these bytes
        return data

    def note_read(self, path: str) -> None:
        """`path` was read outside the repo model (the generator's inputs): track it too."""
        if self._touched is not None:
            self._touched.add(path)

    def is_file(self, path: str) -> bool:
        """Whether `path` (relative to the root) is a file; tracked like a read."""
        return self._probe("?f:" + path) == "yes"

    def is_dir(self, path: str) -> bool:
        """Whether `path` (relative to the root) is a folder; tracked like a read."""
        return self._probe("?d:" + path) == "yes"

    def _probe(self, key: str) -> str:
        if self._touched is not None:
            self._touched.add(key)
        full = self.root / key[3:]
        # os.path's probes: pathlib's raise PermissionError below an unreadable folder.
        found = os.path.isfile(full) if key.startswith("?f:") else os.path.isdir(full)
        return "yes" if found else "no"

    def digest(self, key: str) -> str:
        """What a dependency key stands for now: a file's content (or the error reading it
        gives), computed once per run; whether a probe ("?f:path", "?d:path") holds; a derived
        value's digest ("=name:arg")."""
        found = self._digests.get(key)
        if found is not None:
            return found
        if key.startswith("?"):
            return self._probe(key)  # cheap, and may change during a run (--fix)
        if key.startswith("="):
            return self._derived_digest(key)
        if key == TRANSIENT:
            return "transient"
        from lotus_checks.replay import file_digest

        try:
            data = self._read_bytes(key)
        except LoadError as exc:
            found = f"!{exc.code}\0{exc.message}"
        else:
            self._unloaded[key] = data
            found = file_digest(data)
        self._digests[key] = found
        return found

    def _derived_digest(self, key: str) -> str:
        if key not in self._derived:
            name, _, arg = key[1:].partition(":")
            compute = self.derivations.get(name)
            if compute is None:
                return "underivable"
            self.derived(key, lambda: compute(arg))
        return self._derived[key][2]

    def unchanged_since(self, path: str, status: list[int]) -> bool:
        """Whether the file's status is still `status` (a `stable_status` of an earlier run)."""
        if path not in self._status_now:
            try:
                info = os.stat(os.path.join(self._real_root, path))
            except (OSError, ValueError):
                self._status_now[path] = None
            else:
                self._status_now[path] = _status(info)
        return self._status_now[path] == status

    def stable_status(self, path: str) -> list[int] | None:
        """The file's status when this run read it, if it had not changed for a while before:
        then a later change gives a later ctime, so an equal status means equal bytes. A file
        changed just before the read could change again within the same clock tick, unseen."""
        return self._stable.get(path)

    # ---- loading ---------------------------------------------------------------------------

    def text(self, path: str) -> str | None:
        return self._load(path, "text", lambda text: text)

    def text_if_readable(self, path: str) -> str | None:
        """The text of a file that is not an input (the Dagster code): when it cannot be read,
        None, and no finding (the file it is may be another check's, such as the generator)."""
        reported = path in self._errors
        text = self.text(path)
        if text is None and not reported:
            self._errors.pop(path, None)
        return text

    def json(self, path: str) -> JsonDoc | None:
        return self._load(path, "json", parse_json)

    def yaml(self, path: str) -> YamlDoc | None:
        return self._load(path, "yaml", parse_yaml)

    def load_findings(self) -> list[Finding]:
        return list(self._errors.values())

    @property
    def files_loaded(self) -> int:
        return len({key.split("\0", 1)[1] for key in self._docs} | set(self._errors))

    def _load(self, path: str, kind: str, parse: Callable[[str], T]) -> T | None:
        if self._touched is not None:
            self._touched.add(path)
        key = f"{kind}\0{path}"
        if key in self._docs:
            return self._docs[key]  # type: ignore[return-value]
        if path in self._errors:
            return None
        try:
            text = self._docs.get(f"text\0{path}")
            if text is None:
                text = self._read(path)
                self._docs[f"text\0{path}"] = text
            doc = parse(text)  # type: ignore[arg-type]
        except LoadError as exc:
            self._errors[path] = _load_finding(path, exc)
            return None
        self._docs[key] = doc
        return doc

    def _read(self, path: str) -> str:
        data = self.raw_bytes(path)
        self._unloaded.pop(path, None)  # the text is kept from now on, not the bytes
        return decode_text(data)

    def _read_bytes(self, path: str) -> bytes:
        full = os.path.join(self._real_root, path)
        if not self._inside(full):
            raise LoadError("LL001", "symbolic link points outside the repository")
        data, info = read_bytes_and_stat(full, self.config.max_file_size)
        if max(info.st_ctime_ns, info.st_mtime_ns) < _settled_before():
            self._stable[path] = _status(info)
        return data

    def _inside(self, full: str) -> bool:
        """Whether `full` really is inside the root: the file itself or any folder on the way
        may be a link, so judge where it really is (folders resolved once per run)."""
        folder, name = os.path.split(full)
        real_folder = self._real_folders.get(folder)
        if real_folder is None:
            real_folder = self._real_folders[folder] = os.path.realpath(folder)
        real = os.path.realpath(full) if os.path.islink(full) else os.path.join(real_folder, name)
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)


def _settled_before() -> int:
    """Files last changed before this time (ns) have a status worth recording."""
    return time.time_ns() - STABLE_AFTER_NS


def _status(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]


def _load_finding(path: str, exc: LoadError) -> Finding:
    from lotus_checks.checks.input import RULES_BY_CODE

    return RULES_BY_CODE[exc.code].finding(path, exc.line, exc.column, exc.message)


# Told about a folder of the layout that cannot be listed (see Repo._unreadable).
FolderError = Callable[[str, OSError], None]


def _subfolders(folder: Path, unreadable: FolderError) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        unreadable(str(folder), exc)
        return []
    return sorted(
        e.name for e in entries if not e.name.startswith(".") and _is_dir(e)
    )


def _files(folder: Path, suffix: str, unreadable: FolderError) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        unreadable(str(folder), exc)
        return []
    return sorted(e.name for e in entries if e.name.endswith(suffix) and not _is_dir(e))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _walk(base: Path, suffixes: tuple[str, ...], unreadable: FolderError) -> list[str]:
    """Files under `base` with one of `suffixes`, as POSIX paths relative to it, sorted.

    Symlinked folders are not followed (loops, and trees outside the repo)."""
    out = []

    def failed(error: OSError) -> None:
        unreadable(str(error.filename), error)

    for folder, dirs, names in os.walk(base, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        rel = Path(folder).relative_to(base).as_posix()
        prefix = "" if rel == "." else rel + "/"
        out.extend(prefix + n for n in names if n.endswith(suffixes))
    return sorted(out)
