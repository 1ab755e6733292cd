"""--baseline / --write-baseline: adopting on a repo that already has findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from lotus_checks.adoption.baseline import fingerprint
from lotus_checks.core.finding import Finding
from tests.builders import CORE
from tests.builders import STREAMS

CliRunner = Callable[..., tuple[int, str, str]]

CUSTOMERS = f"{CORE}/shopify/int_shopify__customers.sql"
NOQA_LINE = "    first_name,  -- noqa: LL401\n"  # on a clean line: one LL602 warning
# Only the families these tests need (the catalog generator and the rest cost seconds per run).
FAST = ("--select", "LL4,LL6")


def _edit(root: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), "utf-8")


def _json(cli: CliRunner, root: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code, out, err = cli("--root", str(root), "--no-cache", *FAST, "--output-format", "json",
                         *args)
    return code, json.loads(out)["findings"], err


def _where(findings: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(f["code"], f["path"], f["line"]) for f in findings]


@pytest.fixture
def tree_with_findings(reference_repo: Path) -> Path:
    """A misspelled column (LL401 in the model, LL405 in the mart reading it) and an unused noqa."""
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", NOQA_LINE)
    return reference_repo


def test_write_baseline_records_findings_and_exits_0(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    baseline = tmp_path / "baseline.json"
    code, out, err = cli("--root", str(tree_with_findings), "--no-cache", *FAST,
                         "--write-baseline", str(baseline))
    assert (code, out) == (0, "")
    assert err == f"lotus-check: recorded 3 findings in {baseline}\n"
    data = json.loads(baseline.read_text("utf-8"))
    assert data["lotus-check-baseline"] == 1
    entries = data["findings"]
    assert [(e["path"], e["code"], e["count"]) for e in entries] == sorted(
        [(CUSTOMERS, "LL401", 1), (CUSTOMERS, "LL602", 1),
         (f"{CORE.replace('core', 'marts')}/marketing/dim_customers.sql", "LL405", 1)]
    )
    assert all("line" not in e for e in entries)  # nothing line-bound is stored


def test_writing_twice_gives_identical_bytes_and_no_temp_files(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    first = folder / "a.json"
    second = folder / "b.json"
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(first))
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(second))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().endswith(b"}\n")
    assert sorted(p.name for p in folder.iterdir()) == ["a.json", "b.json"]


def test_baseline_hides_recorded_findings(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    baseline = tmp_path / "baseline.json"
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(baseline))
    code, out, err = cli("--root", str(tree_with_findings), "--no-cache", *FAST,
                         "--baseline", str(baseline))
    assert (code, err) == (0, "")
    assert out.strip().endswith("files checked, 3 in the baseline).")
    assert out.startswith("All checks passed")


def test_lines_added_above_do_not_resurrect_findings(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    baseline = tmp_path / "baseline.json"
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(baseline))
    _edit(tree_with_findings, CUSTOMERS, "select\n", "-- customers, one row each\n\nselect\n")
    code, findings, _ = _json(cli, tree_with_findings, "--baseline", str(baseline))
    assert (code, findings) == (0, [])
    # Control: without the baseline the findings are there, two lines further down.
    code, findings, _ = _json(cli, tree_with_findings)
    assert code == 1
    assert ("LL401", CUSTOMERS, 31) in _where(findings), findings


def test_editing_the_offending_line_reports_it_again(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    baseline = tmp_path / "baseline.json"
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(baseline))
    _edit(tree_with_findings, CUSTOMERS, "    order_count,\n", "    order_cnt,\n")
    code, findings, _ = _json(cli, tree_with_findings, "--baseline", str(baseline))
    assert code == 1
    assert [(c, p) for c, p, _ in _where(findings)] == [("LL401", CUSTOMERS)]


def test_a_second_identical_finding_is_still_reported(
    tree_with_findings: Path, tmp_path: Path, cli: CliRunner
) -> None:
    baseline = tmp_path / "baseline.json"
    cli("--root", str(tree_with_findings), "--no-cache", *FAST, "--write-baseline", str(baseline))
    _edit(tree_with_findings, CUSTOMERS, "    last_name,\n", "    last_name,  -- noqa: LL401\n")
    # (a different line: its own fingerprint, so reported)
    _edit(tree_with_findings, CUSTOMERS, "    verified_email,\n", NOQA_LINE)  # identical line
    code, findings, _ = _json(cli, tree_with_findings, "--baseline", str(baseline))
    assert code == 0  # warnings only
    assert sorted(_where(findings)) == [("LL602", CUSTOMERS, 19), ("LL602", CUSTOMERS, 22)]


def test_fingerprint_ignores_line_numbers_and_whitespace() -> None:
    one = Finding("a.sql", 3, 5, "LL405", "column `x` (defined at line 12) is not output")
    two = Finding("a.sql", 9, 1, "LL405", "column `x` (defined at line 40) is not output")
    assert fingerprint(one, "  select x,") == fingerprint(two, "select    x,")
    assert fingerprint(one, "select x,") != fingerprint(one, "select y,")
    assert fingerprint(one, "select x,") != fingerprint(
        Finding("a.sql", 3, 5, "LL401", one.message), "select x,")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist (create it with --write-baseline"),
        ("{not json", "cannot read baseline"),
        ('{"findings": []}', "is not a lotus-check baseline"),
        ('{"lotus-check-baseline": 1, "findings": [{"path": "x"}]}', "malformed entry"),
        ('{"lotus-check-baseline": 1, "findings": 5}', '"findings" must be a list'),
        ('{"lotus-check-baseline": 1, "findings": {"a": 1}}', '"findings" must be a list'),
        ('{"lotus-check-baseline": 1, "findings": [5]}', "malformed entry 1"),
        ('{"lotus-check-baseline": 1, "findings": [{"path": "a", "code": "LL401", '
         '"fingerprint": "f", "count": "2"}]}', "malformed entry 1"),
        ('{"lotus-check-baseline": 1, "findings": [' + "9" * 5000 + "]}",
         "cannot read baseline"),
        (b"\xff\xfe", "cannot read baseline"),
    ],
)
def test_unusable_baseline_exits_2_with_one_line(
    reference_repo: Path, tmp_path: Path, cli: CliRunner, content: str | bytes | None,
    message: str
) -> None:
    baseline = tmp_path / "baseline.json"
    if isinstance(content, bytes):
        baseline.write_bytes(content)
    elif content is not None:
        baseline.write_text(content, "utf-8")
    code, out, err = cli("--root", str(reference_repo), "--baseline", str(baseline))
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("extra", [[f"{STREAMS}/shopify/orders.json"], ["--diff", "HEAD"],
                                   ["--fix"]])
def test_write_baseline_refuses_a_partial_run(
    reference_repo: Path, tmp_path: Path, cli: CliRunner, extra: list[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    code, _, err = cli("--root", str(reference_repo), "--write-baseline", str(baseline), *extra)
    assert code == 2 and len(err.splitlines()) == 1 and "--write-baseline" in err
    assert not baseline.exists()


def test_unwritable_baseline_exits_2(reference_repo: Path, tmp_path: Path, cli: CliRunner) -> None:
    code, _, err = cli("--root", str(reference_repo), "--no-cache", *FAST,
                       "--write-baseline", str(tmp_path / "missing-folder" / "b.json"))
    assert code == 2 and "cannot write baseline" in err and len(err.splitlines()) == 1
