"""Writing files safely: every write goes to a temporary file beside the target, then a rename.
And how a listed name is told to be a folder."""

from __future__ import annotations

import os
from pathlib import Path

# O_EXCL: never open a file someone else created under the same name (or a link planted there).
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` so that readers (and a crash) see the old or the new bytes only.

    `durable=False` skips the fsync: still atomic for concurrent readers, but a crash may lose the
    new bytes. Right for cache entries (a lost entry is a miss), never for the user's files.
    A replaced file keeps its mode; a new one gets what open() gives (0666 less the umask).
    """
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp_name = _create_beside(path)
    try:
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to an open descriptor. Straight to it: a file object would first stat it,
    ask whether it is a terminal and seek, three system calls per file for nothing."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _create_beside(path: Path) -> tuple[int, str]:
    """A new, empty temporary file `.<name>.<random>.tmp` in the target's folder (the rename is
    then within one file system), created 0666 less the umask: the mode a new target gets."""
    for _ in range(100):
        tmp_name = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp_name, _CREATE_FLAGS, 0o666), tmp_name
        except FileExistsError:
            continue  # 48 random bits taken: try another name
    raise FileExistsError(f"no free temporary name beside {path}")


def is_dir_entry(entry: os.DirEntry[str]) -> bool:
    """Whether a name `os.scandir` listed is a folder, following a link (as `Path.is_dir`:
    False when it cannot be told)."""
    try:
        return entry.is_dir()
    except OSError:
        return False
