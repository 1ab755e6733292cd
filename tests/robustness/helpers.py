"""Shared pieces of the robustness suite: a small lake, whole-tree snapshots, CLI runs that must
end cleanly, and a watchdog that turns a hang into a failure instead of a stuck CI job.

The small lake (`mini_lake()`) is the reference tree cut down to one Airbyte source with two
streams (stream configs, source schemas, generated catalog, three models, the sources file,
dbt_project.yml, the real generator and Terraform), cut from the reference tree once per test
process so it follows every change to it. It is clean, and a warm run over it takes tens of
milliseconds, which is what lets the fuzz tests afford a few hundred runs.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import functools
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lotus_checks.cli import main
from tests.builders import REFERENCE_TREE

CACHE_DIR = ".lotus_check_cache"

STREAMS = "orchestration/assets/streams/shopify"
SOURCES = "orchestration/assets/sources/shopify"
CORE = "orchestration/assets/core/shopify"
TERRAFORM = "orchestration/airbyte/terraform"
GENERATOR = "orchestration/airbyte/generate-catalog.py"

ORDERS_CONFIG = f"{STREAMS}/orders.json"
ORDERS_SCHEMA = f"{SOURCES}/orders.json"
CATALOG = f"{STREAMS}/_catalog.json"
SOURCES_YML = f"{CORE}/_shopify__sources.yml"
PROJECT = "orchestration/dbt_project.yml"
ORDERS_MODEL = f"{CORE}/int_shopify__orders.sql"
CONNECTIONS_TF = f"{TERRAFORM}/connections.tf"

# Every input file kind the checks read, by what loads it.
JSON_FILES = (ORDERS_CONFIG, ORDERS_SCHEMA, CATALOG)
YAML_FILES = (SOURCES_YML, PROJECT)
SQL_FILES = (ORDERS_MODEL,)
TF_FILES = (CONNECTIONS_TF,)

# A hang in the code under test must fail the suite, not stall it: past this many seconds the
# whole test process dumps every thread's stack and exits.
HANG_SECONDS = 60


# Files taken from the reference tree as they are, and files cut to their part before the first
# line that starts with one of the given markers (what belongs to the other sources).
MINI_LAKE_FILES = (
    GENERATOR, f"{TERRAFORM}/main.tf", f"{TERRAFORM}/variables.tf", f"{TERRAFORM}/providers.tf",
    f"{STREAMS}/orders.json", f"{STREAMS}/customers.json",
    f"{SOURCES}/orders.json", f"{SOURCES}/customers.json",
    f"{CORE}/int_shopify__orders.sql", f"{CORE}/int_shopify__customers.sql",
    f"{CORE}/int_shopify__order_lines.sql",
)
MINI_LAKE_CUTS = {
    f"{TERRAFORM}/sources.tf": ('resource "airbyte_source_klaviyo"',),
    CONNECTIONS_TF: ('resource "airbyte_connection" "klaviyo"',),
    SOURCES_YML: ("      - name: products",),
    PROJECT: ("  - assets/core/klaviyo", "  - assets/core/stripe", "  - assets/core/gorgias",
              "  - assets/marts"),
}


@functools.lru_cache(maxsize=None)
def mini_lake() -> Path:
    """The small lake, cut from the reference tree and its catalog generated, once per process."""
    root = Path(tempfile.mkdtemp(prefix="mini_lake-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    reference = REFERENCE_TREE.parent
    for rel in MINI_LAKE_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference / rel, root / rel)
    for rel, markers in MINI_LAKE_CUTS.items():
        lines = (reference / rel).read_text(encoding="utf-8").splitlines(keepends=True)
        if rel == PROJECT:  # drop the other model folders, keep the rest of the project
            kept = [line for line in lines if line.rstrip("\n") not in markers]
        else:
            end = next(i for i, line in enumerate(lines) if line.startswith(markers))
            kept = lines[:end]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("".join(kept).rstrip("\n") + "\n", encoding="utf-8")
    subprocess.run([sys.executable, str(root / GENERATOR)], check=True, capture_output=True)
    return root


def build_lake(dest: Path) -> Path:
    """A fresh copy of the small lake at `dest` (returned)."""
    shutil.copytree(mini_lake(), dest, symlinks=True)
    return dest


def original(rel: str) -> bytes:
    return (mini_lake() / rel).read_bytes()


# ---- snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: str  # "file" | "dir" | "link" | "fifo" | "other"
    content: bytes | str | None  # file bytes, link target
    mtime_ns: int
    mode: int


def snapshot(root: Path, skip_cache: bool = True) -> dict[str, Entry]:
    """Every entry below `root` (files, folders, links, pipes): bytes, link targets, mtimes, modes.

    Read without following links and without opening anything but regular files (opening a
    FIFO would block the test itself). The cache folder is left out unless asked for."""
    out: dict[str, Entry] = {}
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        rel_folder = base.relative_to(root).as_posix()
        if skip_cache and rel_folder == ".":
            dirs[:] = [d for d in dirs if d != CACHE_DIR]
        for name in sorted(dirs) + sorted(names):
            path = base / name
            out[path.relative_to(root).as_posix()] = _entry(path)
    return out


def _entry(path: Path) -> Entry:
    info = path.lstat()
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return Entry("link", os.readlink(path), info.st_mtime_ns, mode)
    if stat.S_ISDIR(mode):
        return Entry("dir", None, info.st_mtime_ns, mode)
    if stat.S_ISREG(mode):
        return Entry("file", path.read_bytes(), info.st_mtime_ns, mode)
    if stat.S_ISFIFO(mode):
        return Entry("fifo", None, info.st_mtime_ns, mode)
    return Entry("other", None, info.st_mtime_ns, mode)


def assert_unchanged(before: dict[str, Entry], after: dict[str, Entry]) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"


# ---- running the CLI -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Outcome:
    """`lotus-check` in process (stdout and stderr captured), under the hang watchdog."""
    out, err = io.StringIO(), io.StringIO()
    with no_hang(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())


def run_strict_utf8(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """`lotus-check` in process on the streams a strict UTF-8 locale gives (`PYTHONIOENCODING=
    utf-8`: encoding UTF-8, errors "strict"), under the hang watchdog; stdout and stderr as
    bytes, as a child process would have written them."""
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="strict")
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="strict")
    try:
        with no_hang():
            code = main(list(argv))
        sys.stdout.flush()
        sys.stderr.flush()
        return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())
    finally:
        sys.stdout, sys.stderr = saved


def json_findings(root: Path, *args: str) -> list[dict]:
    """The findings of an in-process run on `root` (no cache, JSON output), which must end
    cleanly."""
    outcome = run_cli("--root", str(root), "--no-cache", "--output-format", "json", *args)
    assert_clean_end(outcome)
    return json.loads(outcome.out)["findings"]  # type: ignore[no-any-return]


def run_process(*argv: str, timeout: float = 30, cwd: Path | None = None) -> Outcome:
    """`lotus-check` as a child process: a hang is a TimeoutExpired, not a stuck suite."""
    done = subprocess.run(
        [sys.executable, "-m", "lotus_checks", *argv],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_clean_end(outcome: Outcome, allow_usage_error: bool = False) -> None:
    """Exit 0/1 with findings, or (when allowed) exit 2 with one line; never a traceback or an
    internal error."""
    assert "Traceback" not in outcome.err, outcome.err
    assert "internal error" not in outcome.err, outcome.err
    if outcome.code == 2 and allow_usage_error:
        lines = outcome.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lotus-check: error: "), outcome.err
        return
    assert outcome.code in (0, 1), (outcome.code, outcome.err)


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Past `seconds`, dump every stack and end the test process (a hang fails loudly).

    faulthandler works from its own thread, so it neither needs nor disturbs the signals the
    code under test may use for its own time budgets."""
    faulthandler.dump_traceback_later(seconds, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


# ---- processes a generator starts ---------------------------------------------------------


def sleeper(token: Path, setsid: bool) -> str:
    """Generator code that starts a child (in a new session if `setsid`) and waits until it runs.

    The child touches `token`, sleeps long, then would write `token` + ".late"; `token` is in
    its command line, so `running(token)` finds it from here, whatever PID namespace it is in."""
    child = (f"import pathlib, time; pathlib.Path({str(token)!r}).touch(); time.sleep(60); "
             f"pathlib.Path({str(token) + '.late'!r}).write_text('late')")
    return (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session={setsid})\n"
        "end = time.monotonic() + 30\n"
        f"while not os.path.exists({str(token)!r}) and time.monotonic() < end:\n"
        "    time.sleep(0.02)\n"
    )


def running(token: Path) -> list[int]:
    """The processes whose command line names `token` (a zombie's is empty: it is dead)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    if os.fsencode(token) in cmdline.read():
                        found.append(int(entry.name))
            except OSError:  # ended meanwhile
                pass
    return found


def assert_gone(*tokens: Path) -> None:
    """Every child named by `tokens` ran and is dead. lotus-check kills them before it returns;
    the wait only gives a loaded machine time to deliver the kill."""
    for token in tokens:
        assert token.exists(), f"the child did not start ({token.name})"
    end = time.monotonic() + 10
    while any(running(token) for token in tokens) and time.monotonic() < end:
        time.sleep(0.05)
    left = {token.name: running(token) for token in tokens}
    assert not any(left.values()), f"still running: {left}"
    assert not [t for t in tokens if Path(str(t) + ".late").exists()]
