"""Reporters: each turns a finished list of findings into text on a stream."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any
from typing import TextIO
from urllib.parse import quote

from lotus_checks import __version__
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import RunResult
from lotus_checks.core.finding import Severity
from lotus_checks.core.finding import printable
from lotus_checks.core.finding import utf8_safe
from lotus_checks.core.rules import Rule

INFORMATION_URI = "https://github.com/lotus-lake/lotus-checks"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# Findings shown per file: one broken file (a catalog of 100,000 entries) must not flood the
# report. The exit code, the summary's counts, --statistics and a baseline count them all.
MAX_PER_FILE = 200

_COLOURS = {"bold": "1", "red": "31", "yellow": "33", "cyan": "36", "blue": "34", "dim": "2"}

# The default text format shows code frames and hints for this many findings, then one line
# each: a first run on an existing repo has hundreds of findings, and hundreds of frames bury
# the summary. `--output-format full` shows every frame.
FRAMES_SHOWN = 20
# Of those, the first this many of each rule come first: a first run's findings sorted by path
# would otherwise spend every frame on one file or one rule.
FRAMES_PER_RULE = 3


class _Paint:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str, colour: str) -> str:
        if not self.enabled:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"


def report_text(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False,
    *, frames: int | None = None,
) -> None:
    """Findings with code frames and hints (the first `frames` of them; None: all), the
    findings by rule, then the summary line."""
    paint = _Paint(colour)
    lines: dict[str, list[str] | None] = {}
    spaced = False  # the last finding ended with a blank line
    findings, not_shown = shown(result.findings)
    chosen = _framed(findings, frames)
    for index, finding in enumerate(findings):
        path = printable(finding.path)
        where = f"{path}:{finding.line or 1}:{finding.column or 1}:"
        if finding.line is None:
            where = f"{path}:"
        level = "red" if finding.severity is Severity.ERROR else "yellow"
        stream.write(f"{paint(where, 'bold')} {paint(finding.code, level)} "
                     f"{printable(finding.message)}\n")
        framed = chosen is None or index in chosen
        source = _source_line(root, finding, lines) if framed else None
        if source is not None:
            number = str(finding.line)
            gutter = " " * len(number)
            stream.write(f"{paint(gutter + ' |', 'blue')}\n")
            stream.write(f"{paint(number + ' |', 'blue')} {source}\n")
            caret_at = _display_width(source[: max((finding.column or 1) - 1, 0)])
            stream.write(f"{paint(gutter + ' |', 'blue')} {' ' * caret_at}{paint('^', level)}\n")
        if finding.hint and framed:
            stream.write(f"  {paint('= hint:', 'cyan')} {printable(finding.hint)}\n")
        spaced = source is not None or bool(finding.hint and framed)
        stream.write("\n" if spaced else "")
    for path, count in sorted(not_shown.items()):
        stream.write(f"{printable(path)}: {count} more finding{'s' if count != 1 else ''} not "
                     f"shown (at most {MAX_PER_FILE} per file)\n\n")
        spaced = True
    if chosen is not None:
        stream.write(_frames_note(len(findings) - len(chosen)))
        spaced = False
    for path in result.fixed:
        stream.write(f"Fixed {printable(path)}\n")
    if len(result.findings) > 1:
        table = rule_table(result, rules) + _fixable_note(result, rules)
        stream.write(table if spaced and not result.fixed else "\n" + table)
    stream.write(_summary(result) + "\n")


def _framed(findings: list[Finding], frames: int | None) -> set[int] | None:
    """The indices of the findings shown with a code frame (None: all of them): the first
    FRAMES_PER_RULE of each rule in report order, then the next ones in order, `frames` in all."""
    if frames is None or len(findings) <= frames:
        return None
    per_rule: Counter[str] = Counter()
    chosen: list[int] = []
    for index, finding in enumerate(findings):
        if per_rule[finding.code] < FRAMES_PER_RULE:
            per_rule[finding.code] += 1
            chosen.append(index)
    picked = set(chosen[:frames])
    rest = (index for index in range(len(findings)) if index not in picked)
    picked.update(islice(rest, frames - len(picked)))
    return picked


def _frames_note(rest: int) -> str:
    return (f"({rest} finding{'s' if rest != 1 else ''} above without code frames or hints: "
            "`--output-format full` shows every one)\n")


def report_concise(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False
) -> None:
    """One line per finding (`path:line:col: CODE message`), then the summary line: for
    editors, grep and people who know the rules."""
    paint = _Paint(colour)
    findings, not_shown = shown(result.findings)
    for finding in findings:
        path = printable(finding.path)
        where = f"{path}:{finding.line or 1}:{finding.column or 1}:" if finding.line else f"{path}:"
        level = "red" if finding.severity is Severity.ERROR else "yellow"
        stream.write(f"{paint(where, 'bold')} {paint(finding.code, level)} "
                     f"{printable(finding.message)}\n")
    for path, count in sorted(not_shown.items()):
        stream.write(f"{printable(path)}: {count} more finding{'s' if count != 1 else ''} not "
                     f"shown (at most {MAX_PER_FILE} per file)\n")
    stream.writelines(f"Fixed {printable(path)}\n" for path in result.fixed)
    stream.write(_summary(result) + "\n")


def report_statistics(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False
) -> None:
    """`--statistics` in a human format: the findings by rule instead of one by one."""
    stream.writelines(f"Fixed {printable(path)}\n" for path in result.fixed)
    stream.write(rule_table(result, rules) + _fixable_note(result, rules))
    stream.write(_summary(result) + "\n")


def rule_table(result: RunResult, rules: dict[str, Rule]) -> str:
    """One line per rule that has findings, most findings first: count, code, name, severity
    and how many of them `--fix` repairs."""
    counts = Counter(f.code for f in result.findings)
    severities: dict[str, set[str]] = {}
    for f in result.findings:
        severities.setdefault(f.code, set()).add(f.severity.value)
    names = {code: rules[code].name if code in rules else "" for code in counts}
    width = max((len(name) for name in names.values()), default=0)
    out = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        # A severity override (config `severity`) can differ from the rule's default.
        severity = "/".join(sorted(severities[code]))
        fixable = f"  {count} fixable" if code in rules and rules[code].fixable else ""
        out.append(f"{count:6d}  {code}  {names[code]:<{width}}  {severity:<7}{fixable}".rstrip())
    return "".join(line + "\n" for line in out)


def statistics_table(result: RunResult, rules: dict[str, Rule]) -> str:
    """`--statistics` after a machine-readable report (on stderr): the rule table, or a line
    saying there is nothing to count."""
    return rule_table(result, rules) or "     0  findings\n"


def _fixable_note(result: RunResult, rules: dict[str, Rule]) -> str:
    fixable = sum(1 for f in result.findings if f.code in rules and rules[f.code].fixable)
    if not fixable:
        return ""
    return (f"{fixable} fixable with `lotus-check --fix` (see the change first: "
            "`lotus-check --fix --dry-run`).\n")


def fix_diff(root: Path, path: str, new: bytes) -> str:
    """The unified diff (`a/PATH`, `b/PATH`, as git prints it) of replacing PATH's bytes with
    `new`; a file that does not exist yet is diffed against /dev/null."""
    try:
        old_bytes: bytes | None = (root / path).read_bytes()
    except FileNotFoundError:
        old_bytes = None
    old = (old_bytes or b"").decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old, new.decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=f"a/{printable(path)}" if old_bytes is not None else "/dev/null",
        tofile=f"b/{printable(path)}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _source_line(root: Path, finding: Finding, cache: dict[str, list[str] | None]) -> str | None:
    if finding.line is None:
        return None
    if finding.path not in cache:
        from lotus_checks.core.loaders import LoadError
        from lotus_checks.core.loaders import read_text

        try:
            # Through the loaders' reader: never blocks on a FIFO, never reads past the limit.
            cache[finding.path] = read_text(root / finding.path, SOURCE_FILE_LIMIT).splitlines()
        except (LoadError, OSError, ValueError):
            cache[finding.path] = None
    text = cache[finding.path]
    if text is None or not 1 <= finding.line <= len(text):
        return None
    line = printable(text[finding.line - 1].replace("\t", " "))
    return line if len(line) <= 300 else None


SOURCE_FILE_LIMIT = 50_000_000  # bytes of a file read to show one of its lines


def shown(findings: list[Finding]) -> tuple[list[Finding], dict[str, int]]:
    """The findings to print, at most MAX_PER_FILE per file (its errors first, then in order),
    and how many were left out per file."""
    per_file = Counter(f.path for f in findings)
    if all(count <= MAX_PER_FILE for count in per_file.values()):
        return findings, {}
    indices: dict[str, list[int]] = {}
    for i, finding in enumerate(findings):
        if per_file[finding.path] > MAX_PER_FILE:
            indices.setdefault(finding.path, []).append(i)
    kept: set[int] = set()
    for positions in indices.values():
        ranked = sorted(positions, key=lambda i: (findings[i].severity is not Severity.ERROR, i))
        kept.update(ranked[:MAX_PER_FILE])
    out = [f for i, f in enumerate(findings) if per_file[f.path] <= MAX_PER_FILE or i in kept]
    return out, {path: per_file[path] - MAX_PER_FILE for path in indices}


def _display_width(prefix: str) -> int:
    return len(prefix.replace("\t", " "))


def _summary(result: RunResult) -> str:
    errors = sum(f.severity is Severity.ERROR for f in result.findings)
    warnings = len(result.findings) - errors
    files = len({f.path for f in result.findings})
    checked = f"{result.files_checked} file{'s' if result.files_checked != 1 else ''} checked"
    if result.baselined:
        checked += f", {result.baselined} in the baseline"
    if not result.findings:
        return f"All checks passed ({checked})."
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    not_shown = sum(shown(result.findings)[1].values())
    if not_shown:
        checked += f"; {not_shown} not shown, at most {MAX_PER_FILE} per file"
    return f"Found {' and '.join(parts)} in {files} file{'s' if files != 1 else ''} ({checked})."


def report_json(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False
) -> None:
    findings, not_shown = shown(result.findings)
    payload: dict[str, Any] = {
        "findings": [_utf8_dict(f.to_dict()) for f in findings],
        "files_checked": result.files_checked,
    }
    if not_shown:
        payload["not_shown"] = sum(not_shown.values())
    if result.fixed:
        payload["fixed"] = [utf8_safe(path) for path in result.fixed]
    json.dump(payload, stream, indent=2)
    stream.write("\n")


def _utf8_dict(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: utf8_safe(v) if isinstance(v, str) else v for k, v in entry.items()}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def report_github(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False
) -> None:
    """GitHub Actions workflow commands: one annotation per finding on the pull request."""
    for f in shown(result.findings)[0]:
        command = "error" if f.severity is Severity.ERROR else "warning"
        props = [f"file={_escape_property(printable(f.path))}"]
        if f.line is not None:
            props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        props.append(f"title={_escape_property(f.code)}")
        message = printable(f.message + (f"\n{f.hint}" if f.hint else ""), newlines=True)
        stream.write(f"::{command} {','.join(props)}::{_escape_data(message)}\n")
    stream.write(_summary(result) + "\n")


def report_sarif(
    result: RunResult, stream: TextIO, root: Path, rules: dict[str, Rule], colour: bool = False
) -> None:
    used = sorted({f.code for f in result.findings} | set(rules))
    index = {code: i for i, code in enumerate(used)}
    descriptors = []
    for code in used:
        rule = rules.get(code)
        descriptors.append(
            {
                "id": code,
                "name": rule.name if rule else code,
                "shortDescription": {"text": rule.summary if rule else code},
                "fullDescription": {"text": rule.summary if rule else code},
                "help": {
                    "text": (rule.explanation or rule.summary) if rule else code,
                    "markdown": (rule.explanation or rule.summary) if rule else code,
                },
                "helpUri": f"{INFORMATION_URI}/blob/main/docs/rules.md#{code.lower()}",
                "defaultConfiguration": {
                    "level": "error" if not rule or rule.severity is Severity.ERROR else "warning"
                },
            }
        )
    results = []
    for f in shown(result.findings)[0]:
        location: dict = {"artifactLocation": {"uri": _uri(f.path), "uriBaseId": "%SRCROOT%"}}
        if f.line is not None:
            region = {"startLine": f.line}
            if f.column is not None:
                region["startColumn"] = f.column
            location["region"] = region
        text = utf8_safe(f.message + (f" (hint: {f.hint})" if f.hint else ""))
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": f.severity.value,
                "message": {"text": text},
                "locations": [{"physicalLocation": location}],
            }
        )
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "lotus-check",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    json.dump(sarif, stream, indent=2)
    stream.write("\n")


def _uri(path: str) -> str:
    """A relative URI reference for `path` (RFC 3986): its bytes as on disk, percent-encoded
    where a URI needs it (a space, `%`, `#`, a byte that is not UTF-8)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


Reporter = Callable[[RunResult, TextIO, Path, dict[str, Rule], bool], None]

REPORTERS: dict[str, Reporter] = {
    "text": partial(report_text, frames=FRAMES_SHOWN),
    "full": report_text,
    "concise": report_concise,
    "json": report_json,
    "github": report_github,
    "sarif": report_sarif,
}
