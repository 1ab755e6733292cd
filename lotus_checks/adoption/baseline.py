"""Adopting lotus-check on a repo that already has findings: a baseline file records them, and
later runs report only what is new.

A finding matches a baseline entry by code, path and a *fingerprint* that does not contain the
line number: the message with numbers masked, plus the offending source line with its
whitespace collapsed. Editing the lines above a recorded finding (which moves it) does not bring
it back; editing the offending line itself does, and so does moving the file. Entries carry a
count, so a second identical finding in the same file is still reported.

Paths in the file are relative to the repo root (as in every finding), whichever folder the
command runs in, so one file serves pre-commit, CI and a run from a subfolder.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import RunResult
from lotus_checks.core.fsutil import atomic_write

FORMAT_KEY = "lotus-check-baseline"
FORMAT_VERSION = 1

Key = tuple[str, str, str]  # (path, code, fingerprint)


class BaselineError(Exception):
    """The baseline file cannot be read or written; one line for stderr (exit 2)."""


class _SourceLines:
    """Each file's lines, read once (fingerprints need the offending line's text)."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, list[str]] = {}

    def line(self, path: str, number: int | None) -> str:
        if number is None:
            return ""
        if path not in self.files:
            try:
                text = (self.root / path).read_text("utf-8", errors="replace")
            except (OSError, ValueError):
                text = ""
            self.files[path] = text.splitlines()
        lines = self.files[path]
        return lines[number - 1] if 1 <= number <= len(lines) else ""


def fingerprint(finding: Finding, source_line: str) -> str:
    message = re.sub(r"\d+", "#", finding.message)
    content = " ".join(source_line.split())
    digest = hashlib.sha256(f"{finding.code}\0{message}\0{content}".encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def _keys(findings: Iterable[Finding], root: Path) -> list[tuple[Key, Finding]]:
    lines = _SourceLines(root)
    return [
        ((f.path, f.code, fingerprint(f, lines.line(f.path, f.line))), f) for f in findings
    ]


@dataclass(frozen=True)
class Baseline:
    entries: Counter[Key]

    def apply(self, result: RunResult, root: Path) -> RunResult:
        """`result` without the findings the baseline records (each entry hides `count`)."""
        return self.match(result, root)[0]

    def match(self, result: RunResult, root: Path) -> tuple[RunResult, Counter[Key]]:
        """`result` without the recorded findings, and the entries (with the count) that
        matched no finding of this run: fixed, or their line edited."""
        remaining = Counter(self.entries)
        kept = []
        for key, finding in _keys(result.findings, root):
            if remaining[key] > 0:
                remaining[key] -= 1
            else:
                kept.append(finding)
        hidden = len(result.findings) - len(kept)
        unmatched = Counter({key: count for key, count in remaining.items() if count > 0})
        return replace(result, findings=kept, baselined=result.baselined + hidden), unmatched


def load_baseline(path: Path) -> Baseline:
    try:
        data = json.loads(_read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist (create it with "
                            f"--write-baseline {path})") from None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON, a huge integer
        if type(exc) is ValueError:  # Python refuses integers of over 4,300 digits
            exc = ValueError("an integer with over 4,300 digits")
        raise BaselineError(f"cannot read baseline {path}: {_one_line(exc)}") from None
    except RecursionError:
        raise BaselineError(f"cannot read baseline {path}: nested too deeply") from None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != FORMAT_VERSION:
        raise BaselineError(f"{path} is not a lotus-check baseline (version {FORMAT_VERSION})")
    findings = data.get("findings", [])
    if not isinstance(findings, list):
        raise BaselineError(f"{path}: \"findings\" must be a list of entries, not "
                            f"{type(findings).__name__}; rewrite it with --write-baseline")
    entries: Counter[Key] = Counter()
    for number, entry in enumerate(findings, 1):
        key = _entry_key(entry)
        count = entry.get("count", 1) if isinstance(entry, dict) else None
        if key is None or not isinstance(count, int) or isinstance(count, bool):
            raise BaselineError(f"{path}: malformed entry {number} (expected \"path\", \"code\", "
                                "\"fingerprint\" strings and a \"count\"); rewrite it with "
                                "--write-baseline")
        entries[key] += max(count, 0)
    return Baseline(entries)


def _entry_key(entry: object) -> Key | None:
    if not isinstance(entry, dict):
        return None
    path, code, fp = entry.get("path"), entry.get("code"), entry.get("fingerprint")
    if not (isinstance(path, str) and isinstance(code, str) and isinstance(fp, str)):
        return None
    # Root-relative POSIX, as written; a hand-edited "./orchestration/x.sql" still matches.
    return posixpath.normpath(path), code, fp


def _read_regular(path: Path) -> bytes:
    """The bytes of `path` if it is a regular file (through links); a FIFO or a device would
    block or never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def render_baseline(findings: Iterable[Finding], root: Path) -> bytes:
    """The baseline file's bytes: sorted, stable, one entry per (path, code, fingerprint)."""
    counts: Counter[Key] = Counter()
    messages: dict[Key, str] = {}
    for key, finding in _keys(findings, root):
        counts[key] += 1
        messages.setdefault(key, finding.message)
    entries = [
        {"path": path, "code": code, "fingerprint": fp, "count": counts[(path, code, fp)],
         "message": messages[(path, code, fp)]}
        for path, code, fp in sorted(counts)
    ]
    document = {FORMAT_KEY: FORMAT_VERSION, "findings": entries}
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_baseline(path: Path, findings: Iterable[Finding], root: Path) -> None:
    """Write atomically; only ever replace a regular file. A link, a FIFO or a device at
    `path` (`/dev/stdout`, `/dev/full`) is refused: renaming over it would swap the node
    itself for a file, not write through it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise BaselineError(f"cannot write baseline {path}: it is {_kind(mode)}, not a regular "
                            "file; give the path of a file to create or replace")
    try:
        atomic_write(path, render_baseline(findings, root))
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
             (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")
