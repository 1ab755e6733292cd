"""Running the repo's own catalog generator on a throw-away copy of its inputs.

Generators compute the repo root from their own location and write `_catalog.json` files in
place, so the only safe way to learn what they produce is to run them where "in place" is a
copy: the generator (with the Python files beside it, for its imports), the stream configs
(without the committed catalogs, so that whatever we read back was written by this run) and the
source schemas, each at the same relative path below a temporary root. The copy sits a few empty
folders deep, so a generator that climbs above its root (`Path(__file__).parents[3] / ...`) still
writes into our temporary folder. The child gets the copy as its working folder, no environment
variable that names the real tree, and a time limit after which its whole process group is
killed. Our own process never writes to the real tree here.

Python cannot be fully sandboxed: a generator holding the real repo's absolute path as a literal
could still reach it. Such a generator is refused before it runs (see `_refers_to_root`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Callable

from lotus_checks.cache import Cache
from lotus_checks.cache import content_key
from lotus_checks.fsutil import write_all
from lotus_checks.loaders import LoadError
from lotus_checks.repo import CATALOG_NAME
from lotus_checks.repo import SKIPPED_FOLDERS

# Empty folders above the copy's root: a generator climbing this many levels above the repo root
# still lands inside our temporary folder.
PADDING = ("sandbox", "a", "b", "c")
OUTPUT_TAIL_BYTES = 4000
OUTPUT_TAIL_LINES = 8
CACHE_NAMESPACE = "catalog-generator-v1"


@dataclass(frozen=True)
class GeneratorRun:
    """What one run of the generator produced.

    `catalogs` maps each source folder to the bytes the generator wrote to its `_catalog.json`;
    `error` says why the run failed (None when it exited 0); `output` is the tail of what it
    printed (stdout and stderr together); `inputs` are the paths (relative to the root) of
    everything the copy got, which is all the generator could read."""

    catalogs: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    output: str = ""
    inputs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Layout:
    """Where the generator and its inputs are, relative to `root`."""

    root: Path
    generator: str
    streams: str
    sources: str


def run_generator(layout: Layout, timeout: float, cache: Cache | None = None) -> GeneratorRun:
    """Run the generator on a temporary copy of its inputs; never writes below `layout.root`.

    Successful runs are cached by the content of everything copied (the generator's output
    depends on nothing else it can see)."""
    return start_generator(layout, timeout, cache).result()


def start_generator(layout: Layout, timeout: float, cache: Cache | None = None,
                    read: Callable[[str], bytes] | None = None) -> PendingRun:
    """`run_generator`, started: the child runs while the caller does other work, until
    `result()` waits for it (or `close()` kills it). No thread: the caller may fork later.
    `read(relative path)` gives an input's bytes (the repo model's, so the copy holds exactly
    what the run hashes and checks); where it fails, the file is read here."""
    generator = layout.root / layout.generator
    if not generator.is_file():
        return PendingRun.finished(
            GeneratorRun(error=f"the catalog generator {layout.generator} does not exist"))
    files = _input_files(layout)
    try:
        contents = {rel: _input_bytes(rel, path, read) for rel, path in files.items()}
    except OSError as exc:
        return PendingRun.finished(GeneratorRun(error=f"cannot read the generator's inputs: {exc}"))
    if _refers_to_root(contents[layout.generator], layout.root):
        return PendingRun.finished(GeneratorRun(
            error=f"the generator contains this repo's absolute path ({layout.root}); it would "
            "write into the working tree, so lotus-check does not run it",
            inputs=(layout.generator,),
        ))
    if cache is not None and cache.folder is None:
        cache = None  # --no-cache: no key to work out (it hashes every input)
    key = _cache_key(layout, contents) if cache is not None else ""
    inputs = tuple(contents)
    if cache is not None:
        hit = _from_cache(cache.get(CACHE_NAMESPACE, key))
        if hit is not None:
            return PendingRun.finished(replace(hit, inputs=inputs))
    pending = _start_in_copy(layout, contents, timeout)
    pending.inputs = inputs
    pending.store = (cache, key) if cache is not None else None
    return pending


class PendingRun:
    """A generator run in a temporary copy: started, or already finished (a cache hit)."""

    def __init__(self, done: GeneratorRun | None = None):
        self._done = done
        self.inputs: tuple[str, ...] = ()
        self.store: tuple[Cache, str] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.scratch: Path | None = None
        self.copy_root: Path | None = None
        self.log: Path | None = None
        self.deadline = 0.0
        self.timeout = 0.0
        self.streams = ""
        self.start_error = "the generator did not start"

    @classmethod
    def finished(cls, result: GeneratorRun) -> PendingRun:
        return cls(result)

    def result(self) -> GeneratorRun:
        """Wait for the child (within what is left of the time limit) and read what it wrote."""
        if self._done is None:
            try:
                result = self._collect()
            finally:
                self.close()
            if self.store is not None and result.ok:
                cache, key = self.store
                cache.put(CACHE_NAMESPACE, key, _to_cache(result))
            self._done = replace(result, inputs=self.inputs)
        return self._done

    def _collect(self) -> GeneratorRun:
        assert self.log is not None and self.copy_root is not None
        if self.process is None:
            return GeneratorRun(error=self.start_error)
        error = _wait(self.process, max(0.0, self.deadline - time.monotonic()), self.timeout)
        output = _tail(self.log)
        if error is not None:
            return GeneratorRun(error=error, output=output)
        return GeneratorRun(catalogs=_read_catalogs(self.copy_root / self.streams), output=output)

    def close(self) -> None:
        """Kill the child if it still runs; remove the copy. Safe to call more than once."""
        if self.process is not None and self.process.poll() is None:
            _kill(self.process, hasattr(os, "killpg"))
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _input_bytes(rel: str, path: Path, read: Callable[[str], bytes] | None) -> bytes:
    if read is not None:
        try:
            return read(rel)
        except (LoadError, OSError):  # the repo model refuses it (size, a link): read it here
            pass
    return path.read_bytes()


def _input_files(layout: Layout) -> dict[str, Path]:
    """Relative path -> real path of everything the copy gets."""
    root = layout.root
    files: dict[str, Path] = {layout.generator: root / layout.generator}
    generator_folder = (root / layout.generator).parent
    for entry in sorted(generator_folder.glob("*.py")):
        if _safe_file(entry, root):
            files.setdefault(entry.relative_to(root).as_posix(), entry)
    for folder in (layout.streams, layout.sources):
        for rel in _walk(root, folder):
            is_catalog = folder == layout.streams and rel.count("/") == folder.count("/") + 2 \
                and rel.endswith("/" + CATALOG_NAME)
            if not is_catalog:
                files.setdefault(rel, root / rel)
    return files


def _walk(root: Path, folder: str) -> list[str]:
    out = []
    for current, dirs, names in os.walk(root / folder):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_FOLDERS
            and not os.path.islink(os.path.join(current, d))
        )
        for name in sorted(names):
            path = Path(current) / name
            if _safe_file(path, root):
                out.append(path.relative_to(root).as_posix())
    return out


def _safe_file(path: Path, root: Path) -> bool:
    """A regular file (or a link to one) inside the root: nothing outside it is ever read."""
    if not path.is_file():
        return False
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        return target == root or root in target.parents
    return True


def _refers_to_root(source: bytes, root: Path) -> bool:
    names = {str(root), os.path.realpath(root)}
    return any(len(name) > 1 and name.encode("utf-8", "surrogateescape") in source for name in names)


def _cache_key(layout: Layout, contents: dict[str, bytes]) -> str:
    parts = [sys.version, layout.generator, layout.streams, layout.sources]
    for rel in sorted(contents):
        parts += [rel, hashlib.sha256(contents[rel]).hexdigest()]
    return content_key(*parts)


def _to_cache(result: GeneratorRun) -> dict[str, object]:
    return {
        "catalogs": {s: b.decode("utf-8", "surrogateescape") for s, b in result.catalogs.items()},
        "output": result.output,
    }


def _from_cache(entry: object) -> GeneratorRun | None:
    if not isinstance(entry, dict):
        return None
    catalogs = entry.get("catalogs")
    output = entry.get("output")
    if not isinstance(catalogs, dict) or not isinstance(output, str):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in catalogs.items()):
        return None
    try:
        decoded = {s: t.encode("utf-8", "surrogateescape") for s, t in catalogs.items()}
    except UnicodeEncodeError:
        return None
    return GeneratorRun(catalogs=decoded, output=output)


def _start_in_copy(layout: Layout, contents: dict[str, bytes], timeout: float) -> PendingRun:
    """Copy and start, in shared memory when there is room; where the copy cannot be written
    there (it filled up meanwhile), in the temporary folder; where not even there (a full
    disk), a failed run that says why."""
    base = _scratch_base(sum(len(data) for data in contents.values()), len(contents))
    try:
        try:
            return _start_in(base, layout, contents, timeout)
        except OSError:
            if base is None:
                raise
        return _start_in(None, layout, contents, timeout)
    except OSError as exc:
        return PendingRun.finished(GeneratorRun(
            error=f"cannot copy the generator's inputs to a temporary folder: {exc}"))


def _start_in(base: str | None, layout: Layout, contents: dict[str, bytes],
              timeout: float) -> PendingRun:
    pending = PendingRun()
    pending.scratch = scratch = Path(tempfile.mkdtemp(prefix="lotus-check-generator-", dir=base))
    try:
        copy_root = scratch.joinpath(*PADDING, layout.root.name or "repo")
        _write_copy(copy_root, contents)
        (copy_root / layout.streams).mkdir(parents=True, exist_ok=True)
        pending.copy_root, pending.streams = copy_root, layout.streams
        pending.log = scratch / "output.log"
        pending.timeout = timeout
        pending.deadline = time.monotonic() + timeout
        with open(pending.log, "wb") as out:  # the child has its own descriptor
            try:
                pending.process = subprocess.Popen(
                    [sys.executable, str(copy_root / layout.generator)],
                    cwd=copy_root,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_environment(copy_root, layout.root),
                    start_new_session=hasattr(os, "killpg"),
                )
            except OSError as exc:
                pending.start_error = f"could not start the generator: {exc}"
    except BaseException:
        pending.close()
        raise
    return pending


# Shared memory, where Linux offers it: creating a thousand small files there takes
# milliseconds, while on a disk file system it took from 0.03 s to 0.9 s of kernel time on the
# same machine, depending on where ext4 placed the folder.
SHARED_MEMORY = "/dev/shm"


def _scratch_base(size: int, files: int) -> str | None:
    """Where the copy goes: shared memory when it is there, writable and has room for the copy
    many times over; else the system's temporary folder. A TMPDIR the user set always wins."""
    if os.environ.get("TMPDIR") or not os.path.isdir(SHARED_MEMORY):
        return None
    if not os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return None
    try:
        stats = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    # Room for the copy (each file takes whole pages there), what the generator writes beside
    # it, and a margin for everyone else using shared memory.
    needed = 2 * (size + 4096 * files) + 64 * 1024 * 1024
    return SHARED_MEMORY if stats.f_bavail * stats.f_frsize >= needed else None


def _write_copy(copy_root: Path, contents: dict[str, bytes]) -> None:
    """Write the snapshot: each folder made once, each file with plain os calls (a cold run
    copies a thousand files; pathlib's per-file mkdir and open cost a tenth of a second)."""
    made: set[str] = set()
    base = str(copy_root)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for rel, data in contents.items():
        folder = os.path.dirname(rel)
        if folder not in made:
            os.makedirs(os.path.join(base, folder), exist_ok=True)
            made.add(folder)
        descriptor = os.open(os.path.join(base, rel), flags, 0o644)
        try:
            write_all(descriptor, data)
        finally:
            os.close(descriptor)


def _wait(process: subprocess.Popen[bytes], remaining: float, timeout: float) -> str | None:
    """Wait for the child; None when it exits 0, else why it failed."""
    posix = hasattr(os, "killpg")
    try:
        status = process.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        # The whole group: a generator may have started children of its own. The leader is
        # still alive here, so its group id cannot have been reused by another process.
        _kill(process, posix)
        return f"the generator did not finish within {timeout:g} s (generator-timeout)"
    except BaseException:  # Ctrl-C while waiting: leave nothing running behind us
        _kill(process, posix)
        raise
    if status < 0:
        return f"the generator was killed by signal {-status}"
    if status != 0:
        return f"the generator exited with status {status}"
    return None


def _kill(process: subprocess.Popen[bytes], posix: bool) -> None:
    if posix:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    elif process.poll() is None:  # pragma: no cover - Windows
        process.kill()
    process.wait()


def _environment(cwd: Path, real_root: Path) -> dict[str, str]:
    """The caller's environment minus anything that points back at the real tree."""
    names = {str(real_root), os.path.realpath(real_root)}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and not any(name in value for name in names if len(name) > 1)
    }
    env["PWD"] = str(cwd)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("OLDPWD", None)
    return env


def _read_catalogs(streams: Path) -> dict[str, bytes]:
    out = {}
    try:
        folders = sorted(p for p in streams.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return {}
    for folder in folders:
        catalog = folder / CATALOG_NAME
        if catalog.is_file() and not catalog.is_symlink():
            try:
                out[folder.name] = catalog.read_bytes()
            except OSError:
                continue
    return out


def _tail(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - OUTPUT_TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = [line.rstrip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line.strip()]
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])
