"""A content-keyed cache of JSON facts in the cache folder.

Entries are written atomically, so concurrent runs (pre-commit runs hooks in parallel) at worst
both compute the same entry; a corrupt or unreadable entry is treated as missing.
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

    def get(self, namespace: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        from lotus_checks.loaders import LoadError
        from lotus_checks.loaders import read_text

        try:
            # Through the loaders' reader: a FIFO in place of an entry must not block the run.
            return json.loads(read_text(self._entry(namespace, key), MAX_ENTRY_BYTES))
        except (LoadError, ValueError, RecursionError):
            return None

    def has(self, namespace: str, key: str) -> bool:
        """Whether an entry exists (without reading it; it may still turn out corrupt)."""
        return self.folder is not None and self._entry(namespace, key).is_file()

    def put(self, namespace: str, key: str, value: Any) -> bool:
        """Store `value`; whether it was written (callers may then drop their in-memory copy)."""
        if self.folder is None:
            return False
        try:
            self._prepare()
            entry = self._entry(namespace, key)
            if not self._inside(entry.parent):
                return False  # a link in the cache folder leads elsewhere: never write through it
            entry.parent.mkdir(parents=True, exist_ok=True)
            # No fsync: a cache entry lost in a crash is only a miss, and ~500 fsyncs cost seconds.
            data = json.dumps(value, separators=(",", ":")).encode("utf-8")
            atomic_write(entry, data, durable=False)
            return True
        except OSError:
            return False  # a read-only checkout still gets its findings, just not faster next time

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
