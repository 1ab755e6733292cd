"""Adopting lotus-check on a repo that already has findings: a baseline file records them, and
later runs report only what is new.

A finding matches a baseline entry by code, path and a *fingerprint* that does not contain the
line number: the message with numbers masked, plus the offending source line with its
whitespace collapsed. Editing the lines above a recorded finding (which moves it) does not bring
it back; editing the offending line itself does, and so does moving the file. Entries carry a
count, so a second identical finding in the same file is still reported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from lotus_checks.engine import RunResult
from lotus_checks.finding import Finding
from lotus_checks.fsutil import atomic_write

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
        remaining = Counter(self.entries)
        kept = []
        for key, finding in _keys(result.findings, root):
            if remaining[key] > 0:
                remaining[key] -= 1
            else:
                kept.append(finding)
        hidden = len(result.findings) - len(kept)
        return replace(result, findings=kept, baselined=result.baselined + hidden)


def load_baseline(path: Path) -> Baseline:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist (create it with "
                            f"--write-baseline {path})") from None
    except (OSError, ValueError) as exc:
        if type(exc) is ValueError:
            # Python refuses to convert integers of over 4,300 digits (not a JSONDecodeError)
            exc = ValueError("an integer with over 4,300 digits")
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != FORMAT_VERSION:
        raise BaselineError(f"{path} is not a lotus-check baseline (version {FORMAT_VERSION})")
    entries: Counter[Key] = Counter()
    for entry in data.get("findings", []):
        try:
            key = (str(entry["path"]), str(entry["code"]), str(entry["fingerprint"]))
            count = int(entry.get("count", 1))
        except (TypeError, KeyError, ValueError):
            raise BaselineError(f"{path}: malformed entry {entry!r}") from None
        entries[key] += max(count, 0)
    return Baseline(entries)


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
    try:
        atomic_write(path, render_baseline(findings, root))
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
