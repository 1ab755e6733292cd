"""The repo model: which streams, schemas, catalogs, models and sources files exist (from config),
each file loaded once, lazily, with load failures kept as data (`LoadProblem`, an LL0xx finding
once the engine has made one of it), and the expensive facts the checks share (rendered models,
parsed Terraform, the generator's catalogs, dbt project vars), computed once per run.

The repo model knows no rule and no cache implementation: the engine hands it a `Store` (get and
put JSON by content key) or None, and facts computed before may come from there."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from collections.abc import Callable
from typing import TypeVar

from lotus_checks.core.config import Config
from lotus_checks.core.dbt_project import SKIPPED_FOLDERS
from lotus_checks.core.fsutil import is_dir_entry
from lotus_checks.core.loaders import JsonDoc
from lotus_checks.core.loaders import LoadError
from lotus_checks.core.loaders import UTF8_BOM
from lotus_checks.core.loaders import YamlDoc
from lotus_checks.core.loaders import decode_text
from lotus_checks.core.loaders import parse_json
from lotus_checks.core.loaders import parse_yaml
from lotus_checks.core.loaders import read_bytes_and_stat
from lotus_checks.lake.generator import CATALOG_NAME

if TYPE_CHECKING:
    from lotus_checks.core.store import Store
    from lotus_checks.lake.catalog_schema import Problem as CatalogProblem
    from lotus_checks.lake.generator import GeneratorRun
    from lotus_checks.lake.terraform import HclError
    from lotus_checks.lake.terraform import HclFile
    from lotus_checks.lake.terraform import KeyReader
    from lotus_checks.sql.facts import CoverageView
    from lotus_checks.sql.facts import ModelFacts

T = TypeVar("T")

__all__ = ["CATALOG_NAME", "Entry", "LoadProblem", "Model", "Repo", "SourceSchema", "Stream"]

# Folders the tree walk (`Repo.tree`) names but does not enter, besides hidden ones.
PRUNED_FOLDERS = SKIPPED_FOLDERS | {"venv"}
# Store namespaces of a model's full facts and of its small coverage view (tags, source calls).
FACTS_NAMESPACE = "sql-facts"
COVERAGE_NAMESPACE = "model-coverage"
# The kinds of file the checks load (see Repo.keep_bytes).
LOADED_SUFFIXES = (".json", ".sql", ".yml", ".yaml", ".tf", ".py")


@dataclass(frozen=True)
class LoadProblem:
    """A file that could not be read or parsed: the LL0xx code, where, and why."""

    path: str
    code: str
    line: int | None
    column: int | None
    message: str


@dataclass(frozen=True)
class Entry:
    """A name in the tree (`Repo.tree`): its path from the root, whether it is a folder
    (following a link), a link, and the error listing it gave (a folder that cannot be read)."""

    path: str
    is_dir: bool
    is_link: bool
    error: int | None = None


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
    def __init__(self, config: Config, store: Store | None = None):
        self.config = config
        self.root = config.root
        self._docs: dict[str, object] = {}
        self._bom_files: set[str] = set()  # loaded files that start with a UTF-8 BOM
        self._real_root = os.path.realpath(self.root)
        self._real_folders: dict[str, str] = {}
        self._errors: dict[str, LoadProblem] = {}
        # Bytes already read for this run (the replay digest's), each taken by its first load.
        self._kept: dict[str, bytes] = {}
        # Where facts computed by an earlier run are kept (the engine's cache), or None.
        self.store = store
        # Whether this run's result depends on more than the files and the config: a model over
        # its CPU budget, a generator that failed or changed the tree, git's state in a hint.
        # The engine never stores such a result for replay.
        self.machine_dependent = False
        # Per-run memo of model facts: the coverage views, and full facts that could not be
        # stored (as JSON text: a sixth of the memory of the objects).
        self._views: dict[str, dict[str, Any]] = {}
        self._facts_json: dict[str, str] = {}
        # Models whose facts are on their way from elsewhere (the engine's pool), and how to
        # wait for one of them (see expect_facts).
        self._expected: set[str] = set()
        self._wait_for_facts: Callable[[str], None] = _no_wait
        self._generator: GeneratorRun | None = None
        self._project_vars: dict[str, Any] | None = None
        self._facts_salt: tuple[str, str] | None = None  # see facts_key
        # Store keys by (model name, text): the pool, the coverage and the columns family each
        # ask for a model's (the text is one object per run, whose hash Python keeps).
        self._facts_keys: dict[tuple[str, str], str] = {}
        self._terraform: dict[str, HclFile | HclError] | None = None
        self._key_readers: dict[str, list[KeyReader]] = {}

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
        out: list[str] = []
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
        self._errors.setdefault(rel, LoadProblem(rel, "LL001", None, None, message))

    # ---- probes and the tree ---------------------------------------------------------------

    def is_file(self, path: str) -> bool:
        """Whether `path` (relative to the root) is a file (following links)."""
        # os.path's probes: pathlib's raise PermissionError below an unreadable folder.
        return os.path.isfile(self.root / path)

    def is_dir(self, path: str) -> bool:
        """Whether `path` (relative to the root) is a folder (following links)."""
        return os.path.isdir(self.root / path)

    def is_link(self, path: str) -> bool:
        """Whether `path` (relative to the root) is a symbolic link."""
        return os.path.islink(self.root / path)

    def files_in(self, folder: str, suffix: str) -> list[str]:
        """The names of the files in `folder` (relative to the root) ending in `suffix`, sorted;
        none when it cannot be listed (not an input folder: no finding)."""
        return _files(self.root / folder, suffix, lambda _folder, _error: None)

    @cached_property
    def tree(self) -> list[Entry]:
        """Every name in the tree, sorted by path: hidden folders, the folders tools create
        (`PRUNED_FOLDERS`) and links to folders are named but not entered; the cache folder is
        left out (every run writes it)."""
        out: list[Entry] = []
        cache = Path(os.path.relpath(self.root / self.config.cache_dir, self.root)).as_posix()
        stack = [(str(self.root), "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                if prefix:  # the folder itself is listed already: say it could not be read
                    out.append(Entry(prefix.rstrip("/"), True, False, exc.errno or -1))
                continue
            for entry in entries:
                if prefix + entry.name == cache:
                    continue
                is_link, is_dir = _entry_kind(entry)
                out.append(Entry(prefix + entry.name, is_dir, is_link))
                if is_dir and not is_link and not entry.name.startswith(".") \
                        and entry.name not in PRUNED_FOLDERS:
                    stack.append((entry.path, prefix + entry.name + "/"))
        out.sort(key=lambda e: (e.path, e.error is not None))
        return out

    def git_changed(self) -> frozenset[str] | None:
        """Paths (relative to the root) `git status` lists, or None outside a git work tree.
        The run's result then depends on git's state, not only on the files."""
        self.machine_dependent = True
        return _git_changed(self.root)

    # ---- shared facts ----------------------------------------------------------------------

    def project_vars(self) -> dict[str, Any]:
        """`vars:` of dbt_project.yml (`var('raw_root')` renders with them)."""
        if self._project_vars is None:
            project = self.config.dbt_project
            doc = self.yaml(project) if self.is_file(project) else None
            data = doc.data if doc is not None else None
            found = data.get("vars") if isinstance(data, dict) else None
            self._project_vars = found if isinstance(found, dict) else {}
        return self._project_vars

    def facts_key(self, model: Model, text: str) -> str:
        """The store key of a model's facts: its name and text, the project vars, the code."""
        key = self._facts_keys.get((model.name, text))
        if key is None:
            if self._facts_salt is None:
                from lotus_checks.sql.facts import versions

                variables = json.dumps(self.project_vars(), sort_keys=True, default=str)
                self._facts_salt = (versions(), variables)
            from lotus_checks.core.store import content_key

            key = content_key(*self._facts_salt, model.name, text)
            self._facts_keys[(model.name, text)] = key
        return key

    def has_facts(self, model: Model) -> bool:
        """Whether the facts of `model` are known without computing them (this run's memo or
        the store, where an entry found corrupt later is computed then; an unreadable model has
        none to compute)."""
        text = self.text(model.path)
        if text is None or model.path in self._facts_json or model.path in self._expected:
            return True
        return self.store is not None and self.store.has(
            FACTS_NAMESPACE, self.facts_key(model, text))

    def model_facts(self, model: Model) -> ModelFacts | None:
        """The full facts of `model` (sql/facts.py: both incremental renderings, parsed and
        resolved), computed at most once per run; None when it cannot be read."""
        self._await_facts(model)
        text = self.text(model.path)
        if text is None:
            return None
        kept = self._facts_json.get(model.path)
        if kept is not None:
            return facts_from_json(json.loads(kept))
        key = self.facts_key(model, text)
        cached = self.store.get(FACTS_NAMESPACE, key) if self.store is not None else None
        if isinstance(cached, dict) and _usable_facts(cached):
            # The coverage view is part of the facts: model_coverage need not read its own entry.
            view = _coverage_of(cached)
            if _usable_view(view):
                self._views.setdefault(model.path, view)
            return facts_from_json(cached)
        from lotus_checks.sql.facts import model_facts

        encoded = model_facts(text, model.name, self.project_vars())
        over = _over_budget(encoded)
        stored = not over and self._put(FACTS_NAMESPACE, key, encoded)
        self.remember_facts(model, key, _coverage_of(encoded),
                            None if stored else json.dumps(encoded, separators=(",", ":")), over)
        return facts_from_json(encoded)

    def expect_facts(self, paths: list[str], wait: Callable[[str], None]) -> None:
        """The facts of the models at `paths` are being computed elsewhere (the engine's pool)
        and come in through `remember_facts`: asking for one first calls `wait(path)`, which
        returns once they are in, or once they never will be (then they are computed here)."""
        self._expected = set(paths)
        self._wait_for_facts = wait

    def _await_facts(self, model: Model) -> None:
        if model.path in self._expected:
            self._wait_for_facts(model.path)
            self._expected.discard(model.path)

    def remember_facts(self, model: Model, key: str, view: dict[str, Any],
                       facts_json: str | None, over_budget: bool) -> None:
        """Facts computed for this run (here or by the engine's pool): the coverage view goes to
        the memo and the store; full facts the store did not take (`facts_json`) stay in the
        memo, as text. Facts over a budget depend on the machine: never stored."""
        self._expected.discard(model.path)
        self._views[model.path] = view
        if over_budget:
            self.machine_dependent = True
        elif facts_json is None:
            self._put(COVERAGE_NAMESPACE, key, view)
        if facts_json is not None:
            self._facts_json[model.path] = facts_json

    def model_coverage(self, model: Model, full: bool = False) -> CoverageView | None:
        """The tags (None: unknown) and source() calls of the plain rendering; None when the
        model cannot be read. `full`: the run needs the model's full facts anyway (computing
        them here then costs nothing extra); else only the plain rendering is made."""
        from lotus_checks.sql.facts import CoverageView

        self._await_facts(model)
        text = self.text(model.path)
        if text is None:
            return None
        view = self._views.get(model.path)
        if view is not None:
            return CoverageView.from_json(view)
        key = self.facts_key(model, text)
        cached = self.store.get(COVERAGE_NAMESPACE, key) if self.store is not None else None
        if _usable_view(cached):
            view = cached
        elif full or model.path in self._facts_json:
            facts = self.model_facts(model)
            view = self._views.get(model.path)
            if view is None:  # facts stored by an older run: add the view beside them
                view = facts.coverage.to_json() if facts is not None else _coverage_of({})
                if facts is not None and not (facts.skipped or facts.transient):
                    self._put(COVERAGE_NAMESPACE, key, view)
        else:
            from lotus_checks.sql.facts import coverage_view
            from lotus_checks.sql.render import render_model

            rendered = render_model(text, model_name=model.name, project_vars=self.project_vars())
            view = coverage_view(rendered)
            if rendered.timed_out:
                self.machine_dependent = True
            else:
                self._put(COVERAGE_NAMESPACE, key, view)
        assert view is not None
        self._views[model.path] = view
        return CoverageView.from_json(view)

    def terraform(self) -> dict[str, HclFile | HclError]:
        """Each readable `.tf` file, parsed (or its syntax error); unreadable ones are load
        problems and left out."""
        if self._terraform is None:
            from lotus_checks.lake.terraform import HclError
            from lotus_checks.lake.terraform import parse_hcl_cached

            parsed: dict[str, HclFile | HclError] = {}
            for path in self.terraform_files:
                text = self.text(path)
                if text is None:
                    continue
                try:
                    parsed[path] = parse_hcl_cached(text, self.store)
                except HclError as exc:
                    parsed[path] = exc
            self._terraform = parsed
        return self._terraform

    def catalog_problems(self, generated: bytes, catalog: object) -> list[CatalogProblem]:
        """What Airbyte or the destination would reject in a generated catalog (`catalog` is
        the bytes `generated` parsed): lake/catalog_schema.py, kept in the store by the bytes."""
        from lotus_checks.lake.catalog_schema import catalog_problems_cached

        return catalog_problems_cached(generated, catalog, self.store)

    def terraform_key_readers(self, key: str) -> list[KeyReader]:
        """The Terraform resources that depend on the stream config key `key`
        (terraform.key_readers); none when no `.tf` file mentions it."""
        if key not in self._key_readers:
            from lotus_checks.lake.terraform import key_readers

            texts = {path: text for path in self.terraform_files
                     if (text := self.text(path)) is not None}
            found = key_readers(texts, key) if any(key in t for t in texts.values()) else []
            self._key_readers[key] = found
        return self._key_readers[key]

    def generator_run(self) -> GeneratorRun:
        """The repo's catalog generator, run once per run on a temporary copy of its inputs
        (lake/generator.py); a failed run, or one the tree changed during, makes the run's result
        depend on more than the files."""
        if self._generator is None:
            from lotus_checks.lake.generator import Layout
            from lotus_checks.lake.generator import run_generator

            config = self.config
            layout = Layout(config.root, config.generator, config.streams, config.sources,
                            max_file_size=config.max_file_size, env=config.generator_env,
                            cache_dir=config.cache_dir)
            self._generator = run_generator(layout, config.generator_timeout, self.store,
                                            read=self.raw_bytes)
            if not self._generator.ok or self._generator.changed:
                self.machine_dependent = True
        return self._generator

    def _put(self, namespace: str, key: str, value: Any) -> bool:
        return self.store is not None and self.store.put(namespace, key, value)

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
        if os.path.basename(path) == CATALOG_NAME:
            # What the generator writes: LL511 never looks for repeated keys there.
            return self._load(path, "json", _parse_without_repeats)
        return self._load(path, "json", parse_json)

    def yaml(self, path: str) -> YamlDoc | None:
        return self._load(path, "yaml", parse_yaml)

    def load_problems(self) -> list[LoadProblem]:
        """The files that could not be read or parsed so far (each once)."""
        return list(self._errors.values())

    @property
    def files_loaded(self) -> int:
        return len({key.split("\0", 1)[1] for key in self._docs} | set(self._errors))

    def _load(self, path: str, kind: str, parse: Callable[[str], T]) -> T | None:
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
            self._errors[path] = LoadProblem(path, exc.code, exc.line, exc.column, exc.message)
            return None
        self._docs[key] = doc
        return doc

    def _read(self, path: str) -> str:
        data = self._read_bytes(path)
        text = decode_text(data)
        if data.startswith(UTF8_BOM):
            self._bom_files.add(path)  # its text lacks the mark: not its bytes (raw_bytes)
        return text

    def raw_bytes(self, path: str) -> bytes:
        """The bytes of `path` as loading reads them (links out of the root refused, at most
        max-file-size): what the generator's copy is made of. Raises LoadError. A file this run
        loaded is not read again: its text, strictly decoded UTF-8, encodes back to its bytes
        (the copy then holds the very bytes the checks read)."""
        text = self._docs.get(f"text\0{path}")
        if isinstance(text, str) and path not in self._bom_files:
            return text.encode("utf-8")
        return self._read_bytes(path)

    def keep_bytes(self, path: str, data: bytes) -> None:
        """The bytes of the regular file at `path` (relative to the root, no link on the way,
        at most max-file-size), read for this run already: its load takes them instead of
        reading the file again. Only files of the kinds the checks load are kept."""
        if path.endswith(LOADED_SUFFIXES):
            self._kept[path] = data

    def _read_bytes(self, path: str) -> bytes:
        kept = self._kept.pop(path, None)
        if kept is not None:
            return kept
        full = os.path.join(self._real_root, path)
        if not self._inside(full):
            raise LoadError("LL001", "symbolic link points outside the repository")
        return read_bytes_and_stat(full, self.config.max_file_size)[0]

    def _inside(self, full: str) -> bool:
        """Whether `full` really is inside the root: the file itself or any folder on the way
        may be a link, so judge where it really is (folders resolved once per run)."""
        folder, name = os.path.split(full)
        real_folder = self._real_folders.get(folder)
        if real_folder is None:
            real_folder = self._real_folders[folder] = os.path.realpath(folder)
        real = os.path.realpath(full) if os.path.islink(full) else os.path.join(real_folder, name)
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)


def _parse_without_repeats(text: str) -> JsonDoc:
    return parse_json(text, note_repeated_keys=False)


def _no_wait(path: str) -> None:
    """No facts are expected from elsewhere (see Repo.expect_facts)."""


def facts_from_json(data: dict[str, Any]) -> ModelFacts:
    """A model's facts from what the store keeps (sql.facts.model_facts computes them as JSON):
    the one place stored facts become typed."""
    from lotus_checks.sql.facts import ModelFacts

    return ModelFacts.from_json(data)


def _usable_facts(cached: Any) -> bool:
    return isinstance(cached, dict) and "renderings" in cached and "coverage" in cached


def _usable_view(cached: Any) -> bool:
    return isinstance(cached, dict) and "tags" in cached and isinstance(cached.get("sources"), list)


def _over_budget(facts: dict[str, Any]) -> bool:
    """Skipped over the CPU budget (LL008), or a rendering ran out of wall-clock time."""
    return bool(facts.get("skipped") or facts.get("transient"))


def _coverage_of(facts: dict[str, Any]) -> dict[str, Any]:
    # Facts skipped over the CPU budget have no coverage view: tags unknown (LL008 says why).
    return facts.get("coverage") or {"tags": None, "sources": []}


def _entry_kind(entry: os.DirEntry[str]) -> tuple[bool, bool]:
    """(is a link, is a folder following links) of a listed entry; an entry that cannot be
    looked at counts as a file."""
    try:
        return entry.is_symlink(), entry.is_dir()
    except OSError:
        return False, False


def _git_changed(root: Path) -> frozenset[str] | None:
    """Paths (relative to `root`) that `git status` lists, or None outside a git work tree."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, check=True, timeout=10,
            text=True, encoding="utf-8", errors="surrogateescape",
        ).stdout

    try:
        top = Path(git("rev-parse", "--show-toplevel").strip()).resolve()
        # --no-optional-locks: a plain `git status` refreshes .git/index; we write nothing.
        status = git("--no-optional-locks", "status", "--porcelain=v1", "-z",
                     "--untracked-files=all")
    except (OSError, subprocess.SubprocessError):
        return None
    out: set[str] = set()
    entries = iter(status.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        paths = [entry[3:]]
        if entry[0] in "RC":
            paths.append(next(entries, ""))  # the old name of a rename or copy
        for name in paths:
            try:
                out.add((top / name).relative_to(root.resolve()).as_posix())
            except ValueError:
                continue
    return frozenset(out)


# Told about a folder of the layout that cannot be listed (see Repo._unreadable).
FolderError = Callable[[str, OSError], None]


def _subfolders(folder: Path, unreadable: FolderError) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        unreadable(str(folder), exc)
        return []
    return sorted(
        e.name for e in entries if not e.name.startswith(".") and is_dir_entry(e)
    )


def _files(folder: Path, suffix: str, unreadable: FolderError) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        unreadable(str(folder), exc)
        return []
    return sorted(e.name for e in entries if e.name.endswith(suffix) and not is_dir_entry(e))


def _walk(base: Path, suffixes: tuple[str, ...], unreadable: FolderError) -> list[str]:
    """Files under `base` with one of `suffixes`, as POSIX paths relative to it, sorted.

    Symlinked folders are not followed (loops, and trees outside the repo)."""
    out: list[str] = []

    def failed(error: OSError) -> None:
        unreadable(str(error.filename), error)

    for folder, dirs, names in os.walk(base, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        rel = Path(folder).relative_to(base).as_posix()
        prefix = "" if rel == "." else rel + "/"
        out.extend(prefix + n for n in names if n.endswith(suffixes))
    return sorted(out)
