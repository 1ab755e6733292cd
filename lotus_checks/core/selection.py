"""Which findings are reported: --select/--ignore by code prefix, per-file-ignores, `noqa`
comments and severity overrides."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from lotus_checks.core.config import Config
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity

# `-- noqa` / `-- noqa: LL401, LL4` in SQL; the same after `#` in YAML, Terraform and Python.
_NOQA = {
    ".sql": re.compile(r"--\s*noqa(?::\s*(?P<codes>LL\d{0,3}(?:\s*,\s*LL\d{0,3})*))?", re.I),
    "#": re.compile(r"#\s*noqa(?::\s*(?P<codes>LL\d{0,3}(?:\s*,\s*LL\d{0,3})*))?", re.I),
}
_HASH_COMMENT_SUFFIXES = (".yml", ".yaml", ".tf", ".py", ".toml")


def _specificity(prefix: str) -> int:
    return 2 if prefix == "ALL" else len(prefix)


class Selection:
    def __init__(self, config: Config):
        self.select = config.select
        self.ignore = config.ignore
        self.per_file = config.per_file_ignores
        self.severity = dict(config.severity)

    def enabled(self, code: str, path: str | None = None) -> bool:
        """The most specific matching prefix wins; on a tie, ignore wins."""
        chosen = max((_specificity(p) for p in self.select if _matches(code, p)), default=-1)
        ignored = max((_specificity(p) for p in self.ignore if _matches(code, p)), default=-1)
        if chosen < 0 or ignored >= chosen:
            return False
        if path is not None:
            for glob, codes in self.per_file:
                if fnmatch.fnmatch(path, glob) and any(_matches(code, c) for c in codes):
                    return False
        return True

    def apply_severity(self, finding: Finding) -> Finding:
        level = self.severity.get(finding.code)
        if level is None or level == finding.severity.value:
            return finding
        return replace(finding, severity=Severity(level))


def _matches(code: str, prefix: str) -> bool:
    return prefix == "ALL" or code.startswith(prefix)


def noqa_codes(path: str, line_text: str) -> frozenset[str] | None:
    """Codes a `noqa` comment on this line suppresses: None for no comment, empty set for all."""
    comment = noqa_comment(path, line_text)
    return None if comment is None else comment[1]


def noqa_comment(path: str, line_text: str) -> tuple[int, frozenset[str]] | None:
    """(1-based column of the comment, codes it names) for a `noqa` comment on this line."""
    if path.endswith(".sql"):
        pattern = _NOQA[".sql"]
    elif path.endswith(_HASH_COMMENT_SUFFIXES):
        pattern = _NOQA["#"]
    else:
        return None
    match = pattern.search(line_text)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return match.start() + 1, frozenset()
    return match.start() + 1, frozenset(c.strip().upper() for c in codes.split(","))


def suppressed_by_noqa(finding: Finding, line_text: str) -> bool:
    codes = noqa_codes(finding.path, line_text)
    if codes is None:
        return False
    return not codes or any(finding.code.startswith(c) for c in codes)
