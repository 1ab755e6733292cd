"""A content-keyed cache of JSON facts in the cache folder.

Entries are written atomically, so concurrent runs (pre-commit runs hooks in parallel) at worst
both compute the same entry; a corrupt or unreadable entry is treated as missing.

Most namespaces keep one file per entry. Namespaces of many small entries (`PACKED`: a model's
tags and sources, a document's schema problems) keep one pack file each instead, loaded whole
on first use and written once, at the end of the run (`flush`): creating a file costs far more
than its few hundred bytes (on this project's benchmark machine, a thousand small files took
up to a second of kernel time), and a run that needs one such entry usually needs them all.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lotus_checks.fsutil import atomic_write


# An entry is facts about one file, which is itself under max-file-size.
MAX_ENTRY_BYTES = 100_000_000
# Namespaces kept in one pack file each (see above); the names are the owners' (sql/model_cache,
# checks/stream_config).
PACKED = frozenset({"model-coverage", "json-schema"})
PACK_NAME = "pack.json"
# A pack keeps at least this many entries (more when a run uses more), the ones used last.
PACK_MIN_ENTRIES = 20_000


def content_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


class Cache:
    def __init__(self, folder: Path | None):
        """`folder` None disables the cache (--no-cache)."""
        self.folder = folder
        self._prepared = False
        self._packs: dict[str, dict[str, Any]] = {}
        self._used: dict[str, set[str]] = {}  # pack keys read or written by this run
        self._dirty: set[str] = set()  # packs with entries to write
        # Folders this run made sure of (inside the cache, existing): an entry written to one
        # again costs no mkdir and no realpath (a cold run writes hundreds per folder).
        self._ready: set[Path] = set()

    def get(self, namespace: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        if namespace in PACKED:
            pack = self._pack(namespace)
            if key in pack:
                self._used[namespace].add(key)
            return pack.get(key)
        from lotus_checks.loaders import LoadError
        from lotus_checks.loaders import read_text

        try:
            # Through the loaders' reader: a FIFO in place of an entry must not block the run.
            return json.loads(read_text(self._entry(namespace, key), MAX_ENTRY_BYTES))
        except (LoadError, ValueError, RecursionError):
            return None

    def has(self, namespace: str, key: str) -> bool:
        """Whether an entry exists (without reading it; it may still turn out corrupt)."""
        if self.folder is not None and namespace in PACKED:
            return key in self._pack(namespace)
        return self.folder is not None and self._entry(namespace, key).is_file()

    def put(self, namespace: str, key: str, value: Any) -> bool:
        """Store `value`; whether it was written (callers may then drop their in-memory copy).
        An entry of a packed namespace is written by `flush`."""
        if self.folder is None:
            return False
        data = json.dumps(value, separators=(",", ":"))
        if namespace in PACKED:
            # As the next run will read it back (tuples become lists), not the caller's object.
            self._pack(namespace)[key] = json.loads(data)
            self._used[namespace].add(key)
            self._dirty.add(namespace)
            return True
        return self._write(self._entry(namespace, key), data.encode("utf-8"))

    def flush(self) -> None:
        """Write the packs this run added to. What another run wrote since this one read a pack
        is kept (merged); the entries used last are kept when a pack outgrows its bound."""
        for namespace in sorted(self._dirty):
            ours = self._packs[namespace]
            merged = {**_read_pack(self._pack_path(namespace)), **ours}
            used = self._used[namespace]
            # Entries used by this run last, so they survive the trim below.
            order = [k for k in merged if k not in used] + [k for k in merged if k in used]
            keep = order[-max(PACK_MIN_ENTRIES, 4 * len(used)):]
            data = json.dumps({k: merged[k] for k in keep}, separators=(",", ":"))
            self._write(self._pack_path(namespace), data.encode("utf-8"))
        self._dirty.clear()

    def _pack(self, namespace: str) -> dict[str, Any]:
        if namespace not in self._packs:
            self._packs[namespace] = _read_pack(self._pack_path(namespace))
            self._used[namespace] = set()
        return self._packs[namespace]

    def _pack_path(self, namespace: str) -> Path:
        assert self.folder is not None
        return self.folder / namespace / PACK_NAME

    def _write(self, path: Path, data: bytes) -> bool:
        try:
            self._prepare()
            return self._write_in(path, data, retry=path.parent in self._ready)
        except OSError:
            return False  # a read-only checkout still gets its findings, just not faster next time

    def _write_in(self, path: Path, data: bytes, retry: bool) -> bool:
        folder = path.parent
        if folder not in self._ready:
            if not self._inside(folder):
                return False  # a link in the cache folder leads elsewhere: never write through it
            folder.mkdir(parents=True, exist_ok=True)
            self._ready.add(folder)
        try:
            # No fsync: a cache entry lost in a crash is only a miss, and ~500 fsyncs cost seconds.
            atomic_write(path, data, durable=False)
        except FileNotFoundError:
            if not retry:
                raise
            # The folder went away since (another run cleared the cache): check it again.
            self._ready.discard(folder)
            return self._write_in(path, data, retry=False)
        return True

    def _entry(self, namespace: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / namespace / key[:2] / f"{key}.json"

    def _inside(self, folder: Path) -> bool:
        assert self.folder is not None
        home = Path(os.path.realpath(self.folder))
        real = Path(os.path.realpath(folder))
        return real == home or home in real.parents

    def _prepare(self) -> None:
        if self._prepared or self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, b"# Created by lotus-check\n*\n", durable=False)
        self._prepared = True


def _read_pack(path: Path) -> dict[str, Any]:
    """A pack's entries; empty when it is missing, unreadable or not a JSON object."""
    from lotus_checks.loaders import LoadError
    from lotus_checks.loaders import read_text

    try:
        data = json.loads(read_text(path, MAX_ENTRY_BYTES))
    except (LoadError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
