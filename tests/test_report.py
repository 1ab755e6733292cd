from __future__ import annotations

import io
import json
from pathlib import Path

from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.engine import RunResult
from lotus_checks.output.report import FRAMES_SHOWN
from lotus_checks.output.report import REPORTERS
from lotus_checks.output.report import fix_diff
from lotus_checks.output.report import report_statistics
from lotus_checks.output.report import rule_table

RULES = {
    "LL401": Rule("LL401", "unknown-column", "Column not in the stream"),
    "LL509": Rule("LL509", "selected-missing", "`selected` missing", severity=Severity.WARNING),
    "LL201": Rule("LL201", "catalog-drift", "catalog differs", fixable=True),
}


def _result(tmp_path: Path) -> RunResult:
    model = tmp_path / "models" / "int_a__b.sql"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text("select\n    emial,\n    id\nfrom x\n")
    return RunResult(
        findings=[
            Finding(
                "models/int_a__b.sql", 2, 5, "LL401", "column `emial` is not in a.b",
                hint="did you mean `email`?",
            ),
            Finding("streams/a/b.json", None, None, "LL509", "`selected`, missing: a,b",
                    severity=Severity.WARNING),
        ],
        files_checked=7,
    )


def _render(fmt: str, result: RunResult, root: Path, colour: bool = False) -> str:
    stream = io.StringIO()
    REPORTERS[fmt](result, stream, root, RULES, colour)
    return stream.getvalue()


def test_text_shows_location_source_caret_hint_and_summary(tmp_path: Path) -> None:
    assert _render("text", _result(tmp_path), tmp_path) == (
        "models/int_a__b.sql:2:5: LL401 column `emial` is not in a.b\n"
        "  |\n"
        "2 |     emial,\n"
        "  |     ^\n"
        "  = hint: did you mean `email`?\n"
        "\n"
        "streams/a/b.json: LL509 `selected`, missing: a,b\n"
        "\n"
        "     1  LL401  unknown-column    error\n"
        "     1  LL509  selected-missing  warning\n"
        "Found 1 error and 1 warning in 2 files (7 files checked).\n"
    )


def test_one_finding_has_no_rule_table(tmp_path: Path) -> None:
    result = _result(tmp_path)
    result.findings.pop()
    out = _render("text", result, tmp_path)
    assert "unknown-column" not in out
    assert out.endswith("\n\nFound 1 error in 1 file (7 files checked).\n")


def test_text_colour_only_when_asked(tmp_path: Path) -> None:
    assert "\x1b[" not in _render("text", _result(tmp_path), tmp_path)
    assert "\x1b[31mLL401" in _render("text", _result(tmp_path), tmp_path, colour=True)


def test_text_clean_run(tmp_path: Path) -> None:
    assert _render("text", RunResult([], 1), tmp_path) == "All checks passed (1 file checked).\n"


def test_github_annotations_escape_properties_and_data(tmp_path: Path) -> None:
    lines = _render("github", _result(tmp_path), tmp_path).splitlines()
    assert lines[0] == (
        "::error file=models/int_a__b.sql,line=2,col=5,title=LL401::"
        "column `emial` is not in a.b%0Adid you mean `email`?"
    )
    assert lines[1] == "::warning file=streams/a/b.json,title=LL509::`selected`, missing: a,b"


def test_json_nulls_for_whole_file_findings(tmp_path: Path) -> None:
    payload = json.loads(_render("json", _result(tmp_path), tmp_path))
    assert payload["files_checked"] == 7
    assert payload["findings"][1]["line"] is None
    assert payload["findings"][1]["column"] is None
    assert payload["findings"][1]["severity"] == "warning"


def test_sarif_results_point_at_rules(tmp_path: Path) -> None:
    sarif = json.loads(_render("sarif", _result(tmp_path), tmp_path))
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2,
        "startColumn": 5,
    }
    assert "region" not in run["results"][1]["locations"][0]["physicalLocation"]
    assert run["results"][1]["level"] == "warning"


FIXABLE = ("{} fixable with `lotus-check --fix` (see the change first: "
           "`lotus-check --fix --dry-run`).\n")


def _many(tmp_path: Path, count: int) -> RunResult:
    """`count` LL401 findings on lines of one model, each with a hint, plus a fixable one."""
    model = tmp_path / "m.sql"
    model.write_text("".join(f"select c{i}\n" for i in range(count)), "utf-8")
    findings = [Finding("m.sql", i + 1, 8, "LL401", f"column `c{i}` is not in a.b",
                        hint=f"hint {i}") for i in range(count)]
    findings.append(Finding("s/_catalog.json", 3, 1, "LL201", "stale"))
    return RunResult(findings=findings, files_checked=2)


def test_text_frames_only_some_findings_and_says_how_to_see_all(tmp_path: Path) -> None:
    out = _render("text", _many(tmp_path, FRAMES_SHOWN + 5), tmp_path)
    # The LL201 after the 25 LL401 findings gets one of the frames.
    assert out.count("= hint:") == FRAMES_SHOWN - 1
    assert f"hint {FRAMES_SHOWN - 2}\n" in out and f"hint {FRAMES_SHOWN - 1}\n" not in out
    assert "\n(6 findings above without code frames or hints: `--output-format full`" in out
    # Every finding still has its line.
    assert out.count(": LL401 column") == FRAMES_SHOWN + 5
    assert out.count("^\n") == FRAMES_SHOWN - 1  # one caret per code frame (LL201: no file)


def test_text_frames_the_first_findings_of_every_rule(tmp_path: Path) -> None:
    """A first run sorted by path: 40 findings of one rule in the first file must not take all
    the frames from the rules reported after them."""
    model = tmp_path / "a.sql"
    model.write_text("".join(f"select c{i}\n" for i in range(40)), "utf-8")
    later = tmp_path / "z.sql"
    later.write_text("select x\nselect y\n", "utf-8")
    findings = [Finding("a.sql", i + 1, 8, "LL401", f"column c{i}", hint=f"a{i}")
                for i in range(40)]
    findings += [Finding("z.sql", 1, 8, "LL403", "ref x", hint="z0"),
                 Finding("z.sql", 2, 8, "LL408", "type y", hint="z1")]
    out = _render("text", RunResult(findings=findings, files_checked=2), tmp_path)
    assert "= hint: z0\n" in out and "= hint: z1\n" in out
    assert out.count("= hint:") == FRAMES_SHOWN
    assert "= hint: a17\n" in out and "= hint: a18\n" not in out  # 18 of the one rule
    assert "(22 findings above without code frames or hints" in out


def test_text_frames_everything_up_to_the_limit(tmp_path: Path) -> None:
    out = _render("text", _many(tmp_path, FRAMES_SHOWN - 1), tmp_path)
    assert out.count("= hint:") == FRAMES_SHOWN - 1
    assert "without code frames" not in out


def test_full_frames_every_finding(tmp_path: Path) -> None:
    out = _render("full", _many(tmp_path, FRAMES_SHOWN + 5), tmp_path)
    assert out.count("= hint:") == FRAMES_SHOWN + 5
    assert "without code frames" not in out


def test_concise_is_one_line_per_finding_then_the_summary(tmp_path: Path) -> None:
    assert _render("concise", _result(tmp_path), tmp_path) == (
        "models/int_a__b.sql:2:5: LL401 column `emial` is not in a.b\n"
        "streams/a/b.json: LL509 `selected`, missing: a,b\n"
        "Found 1 error and 1 warning in 2 files (7 files checked).\n"
    )


def test_rule_table_counts_names_severity_and_fixable(tmp_path: Path) -> None:
    result = _many(tmp_path, 3)
    result.findings.append(Finding("t/_catalog.json", 1, 1, "LL201", "stale"))
    assert rule_table(result, RULES) == (
        "     3  LL401  unknown-column  error\n"
        "     2  LL201  catalog-drift   error    2 fixable\n"
    )
    out = _render("text", result, tmp_path)
    assert out.endswith(
        "     3  LL401  unknown-column  error\n"
        "     2  LL201  catalog-drift   error    2 fixable\n"
        + FIXABLE.format(2)
        + "Found 5 errors in 3 files (2 files checked).\n"
    )


def test_rule_table_shows_a_severity_override() -> None:
    result = RunResult([Finding("a", 1, 1, "LL401", "x", severity=Severity.WARNING),
                        Finding("b", 1, 1, "LL401", "x")], 2)
    assert rule_table(result, RULES) == "     2  LL401  unknown-column  error/warning\n"


def test_statistics_replace_the_listing(tmp_path: Path) -> None:
    stream = io.StringIO()
    report_statistics(_many(tmp_path, 2), stream, tmp_path, RULES)
    assert stream.getvalue() == (
        "     2  LL401  unknown-column  error\n"
        "     1  LL201  catalog-drift   error    1 fixable\n"
        + FIXABLE.format(1)
        + "Found 3 errors in 2 files (2 files checked).\n"
    )


def test_fix_diff_is_a_unified_diff_with_git_paths(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s/_catalog.json").write_bytes(b'{\n  "a": 1\n}\n')
    assert fix_diff(tmp_path, "s/_catalog.json", b'{\n  "a": 2\n}\n') == (
        "--- a/s/_catalog.json\n+++ b/s/_catalog.json\n@@ -1,3 +1,3 @@\n"
        ' {\n-  "a": 1\n+  "a": 2\n }\n'
    )
    assert fix_diff(tmp_path, "s/new.json", b"{}").startswith(
        "--- /dev/null\n+++ b/s/new.json\n@@ -0,0 +1 @@\n+{}\n\\ No newline at end of file\n")
