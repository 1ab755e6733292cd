"""The one result type every check yields."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem at one place.

    `path` is POSIX and relative to the repo root; `line` and `column` are 1-based, or None when
    the finding is about the whole file (or a file that does not exist).
    """

    path: str
    line: int | None
    column: int | None
    code: str
    message: str
    severity: Severity = Severity.ERROR
    hint: str = ""

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.column or 0, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


# What a terminal (or a reader of a log) could take for something other than text: C0 controls
# but the tab, DEL, C1 controls (decoded, or as an undecodable byte of a file name, which
# reaches us as a surrogate U+DC80-U+DC9F), line and paragraph separators, and the bidirectional
# overrides and isolates that make text display in another order than it reads ("Trojan
# Source"). A file name holding `\x1b[2K` could otherwise erase a line and print its own.
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udc9f]"
)
# Lone surrogates: from a file name that is not UTF-8 (U+DC80-U+DCFF, one per byte) or from a
# JSON escape such as "\ud800"; no UTF-8 text may hold them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte the name has on disk
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_UNPRINTABLE_BUT_NEWLINES = re.compile(_UNPRINTABLE.pattern.replace("\x0a-\x1f", "\x0b\x0c\x0e-\x1f"))


def printable(text: str, newlines: bool = False) -> str:
    """`text` with control characters escaped (`\\x1b`, `\\u202e`), for a terminal or a log;
    with `newlines`, line ends are kept (for a format that escapes them itself). Other bytes of
    a name that is not UTF-8 stay as they are (written back as the raw bytes)."""
    return (_UNPRINTABLE_BUT_NEWLINES if newlines else _UNPRINTABLE).sub(_escape, text)


def utf8_safe(text: str) -> str:
    """`text` with lone surrogates escaped (`\\xff` for a byte of a name that is not UTF-8,
    `\\ud800` otherwise): valid Unicode for JSON and SARIF, which must be UTF-8."""
    return _SURROGATE.sub(_escape, text)


@dataclass
class RunResult:
    """What a run found (engine.run), for the reporters, the baseline and the exit code."""

    findings: list[Finding]
    files_checked: int
    fixed: list[str] = field(default_factory=list)
    # Findings hidden because a --baseline file records them.
    baselined: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]
