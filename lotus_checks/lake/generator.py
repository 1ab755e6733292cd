"""Running the repo's own catalog generator on a throw-away copy of its inputs.

Generators compute the repo root from their own location and write `_catalog.json` files in
place, so the only safe way to learn what they produce is to run them where "in place" is a
copy: the generator (with the files beside it, for its imports and settings), the stream configs
(without the committed catalogs, so that whatever we read back was written by this run) and the
source schemas, each at the same relative path below a temporary root. The copy sits a few empty
folders deep, so a generator that climbs above its root (`Path(__file__).parents[3] / ...`) still
writes into our temporary folder.

The generator is the repo's own code, trusted as any pre-commit hook is; what we guard against is
an accident in it (docs/reliability.md, "Threat model"). It runs under `contain.py`: on Linux,
where the kernel allows it, with the real tree read-only and in a PID namespace of its own (no
process outlives it); elsewhere in a process group whose every descendant is killed when it
exits. It gets a minimal environment, the copy as its working folder, a time limit and a capped
output. Where the tree was not read-only for it, the content of the files it could write is
compared before the run and when it is gone: a change is reported (`GeneratorRun.changed`). A
generator holding the real tree's absolute path in a string is refused before it runs (see
`_refers_to_root`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

from lotus_checks.core.fsutil import is_dir_entry
from lotus_checks.core.fsutil import write_all
from lotus_checks.core.loaders import LoadError
from lotus_checks.core.loaders import file_kind
from lotus_checks.core.loaders import read_bytes_and_stat
from lotus_checks.core.store import content_key
from lotus_checks.lake.contain import SKIPPED_NAMES
from lotus_checks.lake.contain import tree_state

if TYPE_CHECKING:
    from lotus_checks.core.store import Store

# What the generator writes in each source folder of the streams folder.
CATALOG_NAME = "_catalog.json"

# Empty folders above the copy's root: a generator climbing this many levels above the repo root
# still lands inside our temporary folder.
PADDING = ("sandbox", "a", "b", "c")
OUTPUT_TAIL_BYTES = 4000
OUTPUT_TAIL_LINES = 8
# What contain.py keeps of the generator's output (the rest is read and dropped).
OUTPUT_CAP_BYTES = 65536
CACHE_NAMESPACE = "catalog-generator-v2"
CONTAIN_SCRIPT = Path(__file__).with_name("contain.py")
# Run the generator in Linux namespaces where the kernel allows them (tests turn it off to
# prove what holds without them).
USE_NAMESPACES = True
# Past the time limit contain.py needs a moment to kill and reap; past this too, we kill it.
CLEANUP_SECONDS = 10.0
# Environment variables the generator gets (besides `generator-env`): what Python and a script
# need to start and to read and print text, nothing that carries a credential.
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                    "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT")
BASE_PREFIXES = ("LC_", "PYTHON")
# Values shorter than this are not redacted from the output (they would hit ordinary words).
REDACT_MIN_LENGTH = 8
# Names of variables whose values are redacted from the output even when the generator does not
# get them (it may have found one another way), besides those `generator-env` names.
SECRET_NAME = r"TOKEN|SECRET|KEY|PASS|AUTH|CREDENTIAL|CERT|PRIVATE|SESSION|COOKIE|SIGNATURE"
# What all the generator's inputs together may weigh, in units of max-file-size: the copy is
# bounded even when the streams folders hold many large files.
INPUT_TOTAL_LIMIT = 20


@dataclass(frozen=True)
class GeneratorRun:
    """What one run of the generator produced.

    `catalogs` maps each source folder to the bytes the generator wrote to its `_catalog.json`;
    `oversized` the sources whose catalog is over `max-file-size` (not read), with its size;
    `error` says why the run failed (None when it exited 0); `output` is the tail of what it
    printed (stdout and stderr together, paths in the copy shown relative to the root,
    environment values redacted); `inputs` are the paths (relative to the root) of everything
    the copy got, which is all the generator could read; `changed` the files of the real tree
    that changed while it ran (they must not)."""

    catalogs: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    output: str = ""
    inputs: tuple[str, ...] = ()
    oversized: dict[str, int] = field(default_factory=dict)
    changed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Layout:
    """Where the generator and its inputs are, relative to `root`; the size limit of what is
    copied or read back; the names of extra environment variables the generator gets."""

    root: Path
    generator: str
    streams: str
    sources: str
    max_file_size: int = 5_000_000
    env: tuple[str, ...] = ()
    cache_dir: str = ".lotus_check_cache"


def run_generator(layout: Layout, timeout: float, cache: Store | None = None,
                  read: Callable[[str], bytes] | None = None) -> GeneratorRun:
    """Run the generator on a temporary copy of its inputs and wait for it; never writes below
    `layout.root`. `read(relative path)` gives an input's bytes (the repo model's, so the copy
    holds exactly what the run checks, within `max-file-size`); an input it refuses is not
    copied. Successful runs are cached by the content of everything copied (the generator's
    output depends on nothing else it can see)."""
    problem = _generator_problem(layout)
    if problem is not None:
        return GeneratorRun(error=problem)
    files = _input_files(layout)
    contents: dict[str, bytes] = {}
    for rel, path in files.items():
        try:
            contents[rel] = _input_bytes(rel, path, read, layout.max_file_size)
        except (LoadError, OSError) as exc:
            if rel == layout.generator:
                why = exc.message if isinstance(exc, LoadError) else (exc.strerror or str(exc))
                return GeneratorRun(error=f"cannot read the generator {layout.generator}: {why}",
                                    inputs=(layout.generator,))
            # Not copied: a stream config or schema refused here has its own LL0xx finding
            # (the comparison does not run then); another file is simply not the generator's.
    if _refers_to_root(contents[layout.generator], layout.root):
        return GeneratorRun(
            error=f"the generator contains this repo's absolute path ({layout.root}); it would "
            "write into the working tree, so lotus-check does not run it",
            inputs=(layout.generator,),
        )
    inputs = tuple(contents)
    key = _cache_key(layout, contents) if cache is not None else ""
    if cache is not None:
        hit = _from_cache(cache.get(CACHE_NAMESPACE, key))
        if hit is not None:
            return replace(hit, inputs=inputs)
    child = _start_in_copy(layout, contents, timeout)
    try:
        result = child.collect()
    finally:
        child.close()
    if cache is not None and result.ok and not result.changed and not result.oversized:
        cache.put(CACHE_NAMESPACE, key, _to_cache(result))
    return replace(result, inputs=inputs)


def _generator_problem(layout: Layout) -> str | None:
    """Why the configured generator cannot be run at all, in words for what it is."""
    name = layout.generator
    path = layout.root / name
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"the catalog generator {name} is a link to nothing ({os.readlink(path)})"
        return f"the catalog generator {name} does not exist"
    except OSError as exc:
        return f"the catalog generator {name} cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return f"the catalog generator {name} is a folder, not a script"
    if not stat.S_ISREG(info.st_mode):
        return f"the catalog generator {name} is not a regular file ({file_kind(info.st_mode)})"
    return None


class _Child:
    """The generator running in a temporary copy (under contain.py where it can), and what it
    takes to wait for it, read what it wrote and clean up."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.contained = False  # run under contain.py (its status file says how it ended)
        self.layout: Layout | None = None
        self.scratch: Path | None = None
        self.copy_root: Path | None = None
        self.log: Path | None = None
        self.status: Path | None = None
        self.before: dict[str, str] = {}
        self.after: dict[str, str] | None = None  # from contain.py; None: not compared
        self.why = ""  # why the tree was not read-only for the generator
        self.deadline = 0.0
        self.timeout = 0.0
        self.streams = ""
        self.start_error = "the generator did not start"
        self.failed: GeneratorRun | None = None  # the copy could not be made

    def collect(self) -> GeneratorRun:
        """Wait for the child (within the time limit) and read what it wrote."""
        if self.failed is not None:
            return self.failed
        return self._collect()

    def _collect(self) -> GeneratorRun:
        assert self.log is not None and self.copy_root is not None and self.layout is not None
        if self.process is None:
            return GeneratorRun(error=self.start_error)
        remaining = max(0.0, self.deadline - time.monotonic())
        if self.contained:
            error = self._wait_contained(remaining)
        else:
            error = _wait(self.process, remaining, self.timeout)
        output = _clean_output(_tail(self.log), self._copy_prefixes(), self._secrets())
        if not self.contained:  # pragma: no cover - Windows: no supervisor to take it
            self.after = _tree_state(self.layout)
        if self.why:
            import logging

            logging.getLogger(__name__).debug(
                "the working tree was not read-only for the generator: %s", self.why)
        # No "after": the tree was read-only for the generator (nothing to compare), or the
        # supervisor could not say (it was killed).
        changed = _changes(self.before, self.after) if self.after is not None else ()
        if error is not None:
            return GeneratorRun(error=error, output=output, changed=changed)
        catalogs, oversized = _read_catalogs(self.copy_root / self.streams,
                                             self.layout.max_file_size)
        return GeneratorRun(catalogs=catalogs, output=output, oversized=oversized,
                            changed=changed)

    def _wait_contained(self, remaining: float) -> str | None:
        """contain.py ends the generator at the time limit itself; its status says how it
        ended. Only if it does not end in time too, it is killed here."""
        assert self.process is not None and self.status is not None and self.log is not None
        try:
            wait_for_exit(self.process, remaining + CLEANUP_SECONDS)
        except subprocess.TimeoutExpired:
            _kill(self.process, True)
            return f"the generator did not finish within {self.timeout:g} s (generator-timeout)"
        except BaseException:  # Ctrl-C while waiting: leave nothing running behind us
            self.close()
            raise
        try:
            status = json.loads(self.status.read_text(encoding="utf-8"))
            code = status["code"]
        except (OSError, ValueError, KeyError, TypeError):
            return f"the generator's supervisor ended with status {self.process.returncode}"
        after = status.get("after")
        if isinstance(after, dict):
            self.after = {str(k): str(v) for k, v in after.items()}
        if not status.get("readonly"):
            self.why = str(status.get("why") or "")
        if code is None:
            return f"the generator did not finish within {self.timeout:g} s (generator-timeout)"
        written = _read_only_write(self.log) if code != 0 and status.get("readonly") else None
        if written is not None:
            where = f" ({self._shown(written)})" if written else ""
            return ("the generator may have tried to write into the working tree"
                    f"{where}, which is read-only while lotus-check runs it (it must write below "
                    "its own location, in the copy)")
        return _describe_exit(int(code))

    def _shown(self, path: str) -> str:
        """A path from the generator's output as users know it: relative to the root."""
        assert self.layout is not None
        for root in {str(self.layout.root), os.path.realpath(self.layout.root)}:
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1:]
        return path

    def _copy_prefixes(self) -> list[tuple[str, str]]:
        """Paths in the copy, longest first, with what they are shown as: relative to the root."""
        assert self.copy_root is not None and self.scratch is not None
        out = []
        folder, shown = self.copy_root, ""
        while True:
            for form in {str(folder), os.path.realpath(folder)}:
                out.append((form, shown))
            if folder == self.scratch or folder == folder.parent:
                break
            folder, shown = folder.parent, shown + "../"
        return out

    def _secrets(self) -> dict[str, str]:
        """The values never shown: those of the `generator-env` names and of every variable
        whose name looks like a credential's."""
        assert self.layout is not None
        import re

        secret = re.compile(SECRET_NAME, re.IGNORECASE)
        return {name: value for name, value in os.environ.items()
                if name in self.layout.env or secret.search(name)}

    def close(self) -> None:
        """End the child if it still runs (and everything it started); remove the copy. Safe to
        call more than once."""
        if self.process is not None and self.process.poll() is None:
            if self.contained:
                _stop_supervisor(self.process)
            else:
                _kill(self.process, hasattr(os, "killpg"))
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _hand_over(process: subprocess.Popen[bytes], settings: bytes) -> None:
    """Give the supervisor its arguments (a few hundred bytes: the pipe takes them at once)."""
    assert process.stdin is not None
    try:
        process.stdin.write(settings)
    except OSError:
        pass  # it died at once: its status (none) says so
    finally:
        try:
            process.stdin.close()
        except OSError:
            pass


def _stop_supervisor(process: subprocess.Popen[bytes]) -> None:
    """Ask contain.py to end the generator and all it started (it knows them all), then kill
    its group if it does not end soon."""
    try:
        process.send_signal(signal.SIGTERM)
        wait_for_exit(process, CLEANUP_SECONDS)
    except (subprocess.TimeoutExpired, OSError):
        _kill(process, True)


def _input_bytes(rel: str, path: str, read: Callable[[str], bytes] | None,
                 max_size: int) -> bytes:
    if read is not None:
        return read(rel)
    return read_bytes_and_stat(path, max_size)[0]


def _watched_folders(layout: Layout) -> list[tuple[str, bool]]:
    """The folders the generator reads from and could write to, each `(folder, recursive)`: its
    own folder (only the files directly in it when that is the root) and the streams and
    sources trees."""
    folder = os.path.dirname(layout.generator)
    return [(folder, bool(folder)), (layout.streams, True), (layout.sources, True)]


def _input_files(layout: Layout) -> dict[str, str]:
    """Relative path -> full path of everything the copy gets: every regular file in the
    generator's folder and below the streams and sources folders (stream configs, schemas, and
    whatever YAML, text or shared JSON the generator reads there), except the committed
    catalogs, hidden files, files over `max-file-size`, links out of the root, and what is past
    `INPUT_TOTAL_LIMIT` times `max-file-size` in all."""
    root = layout.root
    # Paths as strings: a Path per file costs more than listing it.
    files: dict[str, str] = {layout.generator: os.path.join(root, layout.generator)}
    budget = INPUT_TOTAL_LIMIT * layout.max_file_size
    cache = os.path.realpath(root / layout.cache_dir)
    seen: set[str] = set()

    def visit(rel: str, recursive: bool) -> None:
        nonlocal budget
        full = root / rel if rel else root
        real = os.path.realpath(full)
        if real in seen or real == cache or not _inside(full, root):
            return
        seen.add(real)
        try:
            # scandir: the kind of each name comes with the listing (no probe per file).
            with os.scandir(full) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if name in SKIPPED_NAMES or name.startswith(".") or name.endswith("~"):
                continue
            child = f"{rel}/{name}" if rel else name
            if is_dir_entry(entry):
                if recursive:
                    visit(child, True)
                continue
            if child in files or _is_committed_catalog(child, layout.streams):
                continue
            try:
                info = entry.stat()  # follows a link, as os.stat does
                is_link = entry.is_symlink()
            except OSError:
                continue
            path = os.path.join(root, child)
            # The folder is inside the root (checked above): only a link may lead out of it.
            if not stat.S_ISREG(info.st_mode) or info.st_size > layout.max_file_size \
                    or info.st_size > budget or (is_link and not _inside(Path(path), root)):
                continue
            budget -= info.st_size
            files[child] = path

    for folder, recursive in _watched_folders(layout):
        visit(folder, recursive)
    return files


def _is_committed_catalog(rel: str, streams: str) -> bool:
    """`<streams>/<source>/_catalog.json`: what the generator writes, never one of its inputs."""
    folder, name = os.path.split(rel)
    return name == CATALOG_NAME and os.path.dirname(folder) == streams


def _watch(layout: Layout) -> dict[str, object]:
    """What `tree_state` compares: the folders the generator could write to."""
    return {"root": str(layout.root),
            "folders": [list(f) for f in _watched_folders(layout)],
            "skip": [os.path.realpath(layout.root / layout.cache_dir)],
            "max_size": layout.max_file_size}


def _tree_state(layout: Layout) -> dict[str, str]:
    watch = _watch(layout)
    return tree_state(str(layout.root), watch["folders"], watch["skip"],  # type: ignore[arg-type]
                      layout.max_file_size)


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    real_root = Path(os.path.realpath(root))
    return real == real_root or real_root in real.parents


def _refers_to_root(source: bytes, root: Path) -> bool:
    """Whether a string in the generator's source names the root or a path below it.

    Paths are compared, not substrings: with the root at `/usr`, the shebang `#!/usr/bin/env`
    (a comment) and `"/usr2"` do not count; `"/usr"` and `"/usr/x"` do."""
    roots = {str(root), os.path.realpath(root)}
    for text in _string_literals(source):
        for name in roots:
            below = (name.rstrip("/" + os.sep) + os.sep, name.rstrip("/") + "/")
            if text == name or text.startswith(below):
                return True
    return False


def _string_literals(source: bytes) -> list[str]:
    """The values of the string literals of a Python source (an f-string's literal text)."""
    import ast

    out = []
    try:
        tokens = list(tokenize.tokenize(io.BytesIO(source).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return []  # it does not run either: the run says so
    # Python 3.12 splits an f-string into FSTRING_START / FSTRING_MIDDLE / FSTRING_END tokens
    # (PEP 701): its literal text is in the FSTRING_MIDDLE ones.
    fstring_middle = getattr(tokenize, "FSTRING_MIDDLE", None)
    for token in tokens:
        if fstring_middle is not None and token.type == fstring_middle:
            out.append(token.string)
            continue
        if token.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            value = token.string.lstrip("rRbBuUfF").strip("'\"")  # an f-string
        if isinstance(value, bytes):
            value = value.decode("utf-8", "surrogateescape")
        out.append(value)
    return out


def _cache_key(layout: Layout, contents: dict[str, bytes]) -> str:
    parts = [sys.version, layout.generator, layout.streams, layout.sources]
    for name in layout.env:  # what the generator may depend on besides its files
        parts += [name, hashlib.sha256(os.environ.get(name, "\0").encode(
            "utf-8", "surrogateescape")).hexdigest()]
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


def _start_in_copy(layout: Layout, contents: dict[str, bytes], timeout: float) -> _Child:
    """Copy the inputs to a temporary folder and start the generator there; where the copy
    cannot be written (a full disk), a failed run that says why."""
    try:
        return _start_in(layout, contents, timeout)
    except OSError as exc:
        # Not the OSError's file name: it is in the temporary copy, which means nothing to users.
        child = _Child()
        child.failed = GeneratorRun(
            error="cannot copy the generator's inputs to a temporary folder: "
            f"{exc.strerror or type(exc).__name__}")
        return child


def _start_in(layout: Layout, contents: dict[str, bytes], timeout: float) -> _Child:
    pending = _Child()
    pending.scratch = scratch = Path(tempfile.mkdtemp(prefix="lotus-check-generator-"))
    try:
        copy_root = scratch.joinpath(*PADDING, layout.root.name or "repo")
        _write_copy(copy_root, contents)
        (copy_root / layout.streams).mkdir(parents=True, exist_ok=True)
        pending.copy_root, pending.streams, pending.layout = copy_root, layout.streams, layout
        pending.log = scratch / "output.log"
        pending.status = scratch / "status.json"
        pending.timeout = timeout
        pending.before = _tree_state(layout)
        pending.deadline = time.monotonic() + timeout
        generator = [sys.executable, str(copy_root / layout.generator)]
        pending.contained = hasattr(os, "fork")
        settings = b""
        if pending.contained:
            # -I -S: the supervisor needs the standard library only, and starts faster without
            # site-packages (the generator itself gets them). Its arguments name the real root:
            # they go through stdin, not the command line every process can read.
            command = [sys.executable, "-I", "-S", str(CONTAIN_SCRIPT)]
            arguments = ["--status", str(pending.status), "--timeout", repr(timeout),
                         "--tail", str(OUTPUT_CAP_BYTES), "--parent", str(os.getpid()),
                         "--watch", json.dumps(_watch(layout)), "--readonly",
                         os.path.realpath(layout.root), "--writable", str(scratch)]
            if USE_NAMESPACES:
                arguments.append("--namespaces")
            arguments += ["--", *generator]
            settings = json.dumps(arguments).encode("utf-8", "surrogateescape")
        else:  # pragma: no cover - Windows: the generator itself, its group killed at the end
            command = generator
        with open(pending.log, "wb") as out:  # the child has its own descriptor
            try:
                pending.process = subprocess.Popen(
                    command,
                    cwd=copy_root,
                    stdin=subprocess.PIPE if settings else subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_environment(copy_root, layout),
                    start_new_session=hasattr(os, "killpg"),
                )
            except OSError as exc:
                pending.start_error = f"could not start the generator: {exc.strerror or exc}"
            else:
                if pending.process.stdin is not None:
                    _hand_over(pending.process, settings)
    except BaseException:
        pending.close()
        raise
    return pending


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
        status = wait_for_exit(process, remaining)
    except subprocess.TimeoutExpired:
        # The whole group: a generator may have started children of its own. The leader is
        # still alive here, so its group id cannot have been reused by another process.
        _kill(process, posix)
        return f"the generator did not finish within {timeout:g} s (generator-timeout)"
    except BaseException:  # Ctrl-C while waiting: leave nothing running behind us
        _kill(process, posix)
        raise
    return _describe_exit(status)


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    """`process.wait(timeout)`, woken by the exit itself where the kernel can tell (a pidfd,
    Linux 5.3 and later): `Popen.wait` with a timeout polls, sleeping up to 50 ms between
    looks, which every run that starts the generator would wait on top of it."""
    if process.returncode is None and hasattr(os, "pidfd_open"):
        try:
            descriptor = os.pidfd_open(process.pid)  # not reaped yet: the pid is still its own
        except OSError:
            pass  # no pidfds here: poll
        else:
            deadline = time.monotonic() + max(timeout, 0)
            try:
                waiting = select.poll()  # not select(): no limit on the descriptor's number
                waiting.register(descriptor, select.POLLIN)  # readable once it exits
                while True:
                    left = deadline - time.monotonic()
                    # poll() takes at most ~24 days in milliseconds; a longer limit waits again
                    if waiting.poll(min(math.ceil(max(left, 0) * 1000), _LONGEST_POLL_MS)) \
                            or left <= 0:
                        break
            finally:
                os.close(descriptor)
            return process.wait(timeout=0)  # reaps it, or TimeoutExpired when still running
    return process.wait(timeout=timeout)


_LONGEST_POLL_MS = 2**31 - 1


def _describe_exit(status: int) -> str | None:
    if status < 0:
        return f"the generator was killed by signal {-status}"
    if status != 0:
        return f"the generator exited with status {status}"
    return None


def _read_only_write(log: Path) -> str | None:
    """Whether the output says a write failed on a read-only file system: the path it names
    (`OSError: [Errno 30] Read-only file system: '/x'`), "" when it names none, None when no
    write failed that way. Only "may have": the message can come from another read-only mount
    (a container's root, a cache) or be printed text."""
    import re

    try:
        with open(log, "rb") as f:
            data = f.read(OUTPUT_CAP_BYTES + 1).decode("utf-8", "replace")
    except OSError:
        return None
    # The last such message: the one nearest the failure.
    matches = list(re.finditer(r"Read-only file system(?:: '([^'\n]+)')?", data))
    if not matches:
        return None
    return matches[-1].group(1) or ""


def _kill(process: subprocess.Popen[bytes], posix: bool) -> None:
    if posix:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    elif process.poll() is None:  # pragma: no cover - Windows
        process.kill()
    process.wait()


def _environment(cwd: Path, layout: Layout) -> dict[str, str]:
    """What the generator gets: the variables Python needs to start and to handle text
    (`BASE_ENVIRONMENT`, `LC_*`, `PYTHON*`) and the ones `generator-env` names, minus any
    whose value names a path in the real tree. PATH is kept whole, even when it lists a
    virtualenv inside the repo (the README's quick start): without it, a generator that runs
    `python`, `dbt` or `terraform` fails. The read-only tree and the comparison after the run
    are the guard against a write there, as for `sys.executable`, which is in the same place."""
    real_root = layout.root
    env = {
        key: value
        for key, value in os.environ.items()
        if (key in BASE_ENVIRONMENT or key.startswith(BASE_PREFIXES) or key in layout.env)
        and (key == "PATH" or not _names_the_tree(value, real_root))
    }
    env["PWD"] = str(cwd)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _names_the_tree(value: str, root: Path) -> bool:
    """Whether a variable's value is, or lists (`a:b`), the root or a path below it."""
    roots = {str(root), os.path.realpath(root)}
    for part in value.split(os.pathsep):
        if part and os.path.isabs(part):
            normal = os.path.normpath(part)
            if any(normal == r or normal.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                return True
    return False


def _changes(before: dict[str, str], after: dict[str, str]) -> tuple[str, ...]:
    names = set(before) | set(after)
    return tuple(sorted(n for n in names if before.get(n) != after.get(n)))


def _read_catalogs(streams: Path, max_size: int) -> tuple[dict[str, bytes], dict[str, int]]:
    """The catalogs the generator wrote, by source; those over `max_size` only by size."""
    out: dict[str, bytes] = {}
    oversized: dict[str, int] = {}
    try:
        folders = sorted(p for p in streams.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return {}, {}
    for folder in folders:
        catalog = folder / CATALOG_NAME
        try:
            info = os.lstat(catalog)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if info.st_size > max_size:
            oversized[folder.name] = info.st_size
            continue
        try:
            out[folder.name] = catalog.read_bytes()
        except OSError:
            continue
    return out, oversized


def _tail(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(0, size - OUTPUT_TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return ""
    if start:  # the first line is cut: a secret cut in two would not be recognised
        data = data.partition(b"\n")[2]
    lines = [line.rstrip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line.strip()]
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])


def _clean_output(text: str, prefixes: list[tuple[str, str]], env: dict[str, str]) -> str:
    """The generator's output as users should see it: paths in the temporary copy shown
    relative to the root (as if it had run in place), and no secret shown: each value of `env`
    (8 characters or more, not a number or a path) is replaced by `[redacted $NAME]` where it
    stands as a whole token, not inside a longer word or number."""
    import re

    for prefix, shown in sorted(prefixes, key=lambda p: -len(p[0])):
        text = text.replace(prefix + "/", shown).replace(prefix, shown.rstrip("/") or ".")
    values = sorted(((v, k) for k, v in env.items()
                     if len(v.strip()) >= REDACT_MIN_LENGTH and not v.strip().isdigit()
                     and not os.path.isabs(v)),
                    key=lambda p: -len(p[0]))
    for value, name in values:
        pattern = rf"(?<![A-Za-z0-9_]){re.escape(value)}(?![A-Za-z0-9_])"
        text = re.sub(pattern, f"[redacted ${name}]".replace("\\", "\\\\"), text)
    return text
