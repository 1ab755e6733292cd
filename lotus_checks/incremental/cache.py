"""A content-keyed cache of JSON facts in the cache folder.

One file per entry, written atomically, so concurrent runs (pre-commit runs hooks in parallel)
at worst both compute the same entry; a corrupt or unreadable entry is treated as missing.

The repo model and the lake modules see a cache only as a `Store` (get and put JSON by
namespace and content key); the engine decides whether there is one (`--no-cache`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lotus_checks.core.fsutil import atomic_write
from lotus_checks.core.store import Store
from lotus_checks.core.store import content_key

__all__ = ["Cache", "Store", "content_key"]


# An entry is facts about one file, which is itself under max-file-size.
MAX_ENTRY_BYTES = 100_000_000


class Cache:
    def __init__(self, folder: Path | None):
        """`folder` None disables the cache (--no-cache)."""
        self.folder = folder
        self._prepared = False
        # Folders this run made sure of (inside the cache, existing): an entry written to one
        # again costs no mkdir and no realpath (a cold run writes hundreds per folder).
        self._ready: set[Path] = set()

    def get(self, namespace: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        from lotus_checks.core.loaders import LoadError
        from lotus_checks.core.loaders import read_text

        try:
            # Through the loaders' reader: a FIFO in place of an entry must not block the run.
            return json.loads(read_text(self._entry_path(namespace, key), MAX_ENTRY_BYTES))
        except (LoadError, ValueError, RecursionError):
            return None

    def has(self, namespace: str, key: str) -> bool:
        """Whether an entry exists (without reading it; it may still turn out corrupt)."""
        return self.folder is not None and os.path.isfile(self._entry_path(namespace, key))

    def put(self, namespace: str, key: str, value: Any) -> bool:
        """Store `value`; whether it was written (callers may then drop their in-memory copy)."""
        if self.folder is None:
            return False
        data = json.dumps(value, separators=(",", ":"))
        return self._write(self._entry(namespace, key), data.encode("utf-8"))

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
        return Path(self._entry_path(namespace, key))

    def _entry_path(self, namespace: str, key: str) -> str:
        # A string: a warm run looks up an entry per model and namespace, and joining Path
        # objects costs more than the lookup.
        assert self.folder is not None
        return os.path.join(self.folder, namespace, key[:2], f"{key}.json")

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
