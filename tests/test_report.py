from __future__ import annotations

import io
import json
from pathlib import Path

from lotus_checks.engine import RunResult
from lotus_checks.finding import Finding
from lotus_checks.finding import Severity
from lotus_checks.report import REPORTERS
from lotus_checks.rules import Rule

RULES = {
    "LL401": Rule("LL401", "unknown-column", "Column not in the stream"),
    "LL509": Rule("LL509", "selected-missing", "`selected` missing", severity=Severity.WARNING),
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
        "Found 1 error and 1 warning in 2 files (7 files checked).\n"
    )


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
